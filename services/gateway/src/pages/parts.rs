//! Small pieces shared by the pages: sources, dates, links that are safe to follow, the id of a
//! resource name, SDG goal colours.

use maud::{Markup, html};
use pbjson_types::Timestamp;
use sse_proto::types::{PartialDate, SourceCitation};

use super::i18n::Lang;

/// `url` if it is an http(s) URL, the only kind a page links to.
pub fn safe_url(url: &str) -> Option<&str> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(url)
}

/// A source: its title, linked when it has a URL, then its publisher and date.
pub fn source(citation: &SourceCitation) -> Markup {
    let date = citation.date.as_ref().map(partial_date).unwrap_or_default();
    let title = if citation.title.is_empty() {
        citation.url.as_str()
    } else {
        citation.title.as_str()
    };
    html! {
        span.source {
            @if let Some(url) = safe_url(&citation.url) {
                a href=(url) rel="noopener" { (title) }
            } @else {
                cite { (title) }
            }
            // Titles often name their publisher or date already; say each once.
            @if !citation.publisher.is_empty() && !title.contains(citation.publisher.as_str()) {
                ", " (citation.publisher)
            }
            @if !date.is_empty() && !title.contains(date.as_str()) {
                ", " (date)
            }
        }
    }
}

/// A date whose month and day may be unknown: `2007`, `2020-11` or `2020-11-03`.
pub fn partial_date(date: &PartialDate) -> String {
    match (date.year, date.month, date.day) {
        (year, _, _) if year <= 0 => String::new(),
        (year, month, _) if month <= 0 => format!("{year:04}"),
        (year, month, day) if day <= 0 => format!("{year:04}-{month:02}"),
        (year, month, day) => format!("{year:04}-{month:02}-{day:02}"),
    }
}

/// A moment as `2026-11-27 15:30 UTC`.
pub fn timestamp(time: &Timestamp) -> String {
    let days = time.seconds.div_euclid(86_400);
    let seconds_of_day = time.seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        seconds_of_day / 3600,
        seconds_of_day % 3600 / 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The last part of a resource name: `tzcld` of `initiatives/tzcld`.
/// A place for people: its English name, and its code (what filters and exports use), e.g.
/// "Burkina Faso (BF)"; codes the ISO lists do not name (`WORLD`) stay as they are.
pub fn place(code: &str) -> String {
    match sse_reference::place_name(code) {
        Some(name) => format!("{name} ({code})"),
        None => code.to_owned(),
    }
}

pub fn id_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The page of a legal text, from its name `legalTexts/{id}`.
pub fn law_path(name: &str) -> String {
    format!("/laws/{}", id_of(name))
}

/// The page of an initiative, from its name `initiatives/{id}`.
pub fn initiative_path(name: &str) -> String {
    format!("/initiatives/{}", id_of(name))
}

/// The official colour of an SDG goal, as a left stripe beside its label.
pub fn goal_colour(goal: i32) -> &'static str {
    const COLOURS: [&str; 17] = [
        "#E5243B", "#DDA63A", "#4C9F38", "#C5192D", "#FF3A21", "#26BDE2", "#FCC30B", "#A21942", "#FD6925", "#DD1367",
        "#FD9D24", "#BF8B2E", "#3F7E44", "#0A97D9", "#56C02B", "#00689D", "#19486A",
    ];
    usize::try_from(goal - 1)
        .ok()
        .and_then(|index| COLOURS.get(index))
        .copied()
        .unwrap_or("#6b7280")
}

/// At most `limit` characters of `text`, cut at a word, with "…" when cut.
pub fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let cut: String = text.chars().take(limit).collect();
    let at_word = cut.rfind(' ').map_or(cut.as_str(), |space| &cut[..space]);
    format!("{}…", at_word.trim_end_matches([',', ';', ':', '.']))
}

/// "Source: the observatory's catalogue", for counts the observatory computes itself.
pub fn own_source(lang: Lang, api_path: &str) -> Markup {
    html! {
        p.figure-source {
            (lang.t("Source")) (lang.colon()) (lang.t("SSE Observatory")) " ("
            a href=(api_path) { code { (api_path) } } ")"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_only_to_web_addresses() {
        assert_eq!(safe_url(" https://www.unccd.int/x "), Some("https://www.unccd.int/x"));
        assert_eq!(safe_url("HTTP://example.org"), Some("HTTP://example.org"));
        assert_eq!(safe_url("javascript:alert(1)"), None);
        assert_eq!(safe_url(""), None);
    }

    #[test]
    fn a_source_links_its_title_and_escapes_it() {
        let citation = SourceCitation {
            title: "Status <report>".to_owned(),
            url: "https://www.unccd.int/report?a=1&b=2".to_owned(),
            publisher: "UNCCD".to_owned(),
            date: Some(PartialDate {
                year: 2020,
                month: 0,
                day: 0,
            }),
        };
        let html = source(&citation).into_string();
        assert!(html.contains(
            r#"<a href="https://www.unccd.int/report?a=1&amp;b=2" rel="noopener">Status &lt;report&gt;</a>"#
        ));
        assert!(html.contains("</a>, UNCCD, 2020</span>"));
        let repeated = source(&SourceCitation {
            title: "ThisDay, 2020-11-03".to_owned(),
            publisher: "ThisDay".to_owned(),
            date: Some(PartialDate {
                year: 2020,
                month: 11,
                day: 3,
            }),
            ..SourceCitation::default()
        })
        .into_string();
        assert_eq!(
            repeated,
            r#"<span class="source"><cite>ThisDay, 2020-11-03</cite></span>"#
        );
        let unlinked = source(&SourceCitation {
            title: "Press".to_owned(),
            url: "javascript:x".to_owned(),
            ..SourceCitation::default()
        })
        .into_string();
        assert!(!unlinked.contains("href"));
    }

    #[test]
    fn writes_partial_dates_and_timestamps() {
        let date = |year, month, day| partial_date(&PartialDate { year, month, day });
        assert_eq!(date(2007, 0, 0), "2007");
        assert_eq!(date(2020, 11, 0), "2020-11");
        assert_eq!(date(2020, 11, 3), "2020-11-03");
        assert_eq!(date(0, 0, 0), "");
        let time = |seconds| timestamp(&Timestamp { seconds, nanos: 0 });
        assert_eq!(time(0), "1970-01-01 00:00 UTC");
        assert_eq!(time(1_795_793_439), "2026-11-27 15:30 UTC");
        assert_eq!(time(951_782_400), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn shortens_at_a_word() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("one two three four", 10), "one two…");
        assert_eq!(id_of("initiatives/tzcld"), "tzcld");
        assert_eq!(law_path("legalTexts/es-ley-5-2011"), "/laws/es-ley-5-2011");
        assert_eq!(initiative_path("initiatives/tzcld"), "/initiatives/tzcld");
        assert_eq!(goal_colour(8), "#A21942");
        assert_eq!(goal_colour(0), "#6b7280");
    }
}
