//! Checks shared by every service's input: lengths, URLs, ISO codes, and the shared types of
//! `sse.type.v1`. Each check adds a violation naming the field's full path (inside
//! [`Violations::within`], the path from the part being checked, completed as it is added), so one
//! response lists every problem of a request, and nothing is written unless the list is empty.

use sse_proto::types::{ExternalIdentifier, LatLng, PartialDate, SourceCitation};

use crate::error::{FieldViolation, ServiceError, ServiceResult};

/// The most characters of a rejected value an error message quotes: a message echoing a 4 MB
/// value would not fit in the response's trailers (clients refuse metadata past about 8 KB).
pub const QUOTED_CHARS: usize = 40;

/// A rejected value as error messages quote it: in backticks, cut to [`QUOTED_CHARS`]
/// characters, control characters escaped so that the message itself stays printable.
pub fn quoted(value: &str) -> String {
    let count = value.chars().count();
    let shown: String = value.chars().take(QUOTED_CHARS).flat_map(char::escape_debug).collect();
    if count > QUOTED_CHARS {
        format!("`{shown}…` ({count} characters)")
    } else {
        format!("`{shown}`")
    }
}

/// The first character of `value` that no text field may hold, and its position (0-based, in
/// characters): control characters other than tab and newline. PostgreSQL refuses NUL in
/// text, and the others are never meant in a name, a title or a filter; refusing them on every
/// database keeps data written on SQLite movable to PostgreSQL.
pub fn forbidden_char(value: &str) -> Option<(usize, char)> {
    value
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n'))
}

/// What is wrong with a character [`forbidden_char`] found.
pub fn forbidden_char_description(position: usize, c: char) -> String {
    format!(
        "holds the control character U+{:04X} at position {}; only tab and newline are allowed",
        u32::from(c),
        position + 1
    )
}

/// The most names one AIP-231 batch get carries.
pub const MAX_BATCH_GET: usize = 1000;

/// The ids of a batch get's `names` (1 to [`MAX_BATCH_GET`], in order, repeats kept), each read
/// by `parse`; every name it cannot read is a violation at `names[i]` saying what a name looks
/// like (`expected`, e.g. "an initiative name (initiatives/{id})").
pub fn batch_get_ids<'a>(
    names: &'a [String],
    expected: &str,
    parse: impl Fn(&'a str) -> Option<&'a str>,
) -> ServiceResult<Vec<&'a str>> {
    if names.is_empty() || names.len() > MAX_BATCH_GET {
        return Err(ServiceError::invalid_field(
            "names",
            format!("must hold 1 to {MAX_BATCH_GET} names, not {}", names.len()),
        ));
    }
    let mut violations = Violations::default();
    let mut ids = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        match parse(name) {
            Some(id) => ids.push(id),
            None => violations.add(format!("names[{index}]"), format!("{} is not {expected}", quoted(name))),
        }
    }
    violations.into_result()?;
    Ok(ids)
}

/// The violations found in one request.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Whether a violation names `field` or a path inside it.
    pub fn mentions(&self, field: &str) -> bool {
        self.0.iter().any(|violation| {
            violation
                .field
                .strip_prefix(field)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The violations found, each naming its field.
    pub fn into_violations(self) -> Vec<FieldViolation> {
        self.0
    }

    /// Ok when nothing was found, else INVALID_ARGUMENT listing every violation.
    pub fn into_result(self) -> ServiceResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::invalid(self.0))
        }
    }

    pub fn required(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.add(field, "is required");
        }
    }

    /// Text of at most `max` characters (not bytes: "chômeur" is 7) and without control
    /// characters other than tab and newline (see [`forbidden_char`]). Every text field of a
    /// request passes here for its bound, so this is also where those characters are refused.
    pub fn max_chars(&mut self, field: &str, value: &str, max: usize) {
        let count = value.chars().count();
        if count > max {
            self.add(field, format!("is {count} characters long; at most {max} are allowed"));
        } else {
            self.plain_text(field, value);
        }
    }

    /// No control characters other than tab and newline (see [`forbidden_char`]).
    pub fn plain_text(&mut self, field: &str, value: &str) {
        if let Some((position, c)) = forbidden_char(value) {
            self.add(field, forbidden_char_description(position, c));
        }
    }

    /// An absolute http(s) URL, or empty.
    pub fn optional_url(&mut self, field: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        self.max_chars(field, value, 2048);
        match url::Url::parse(value) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
            _ => self.add(field, format!("{} is not an absolute http(s) URL", quoted(value))),
        }
    }

    pub fn country_code(&mut self, field: &str, code: &str) {
        if !sse_reference::is_country_code(code) {
            self.add(
                field,
                format!("{} is not an ISO 3166-1 alpha-2 country code (e.g. FR)", quoted(code)),
            );
        }
    }

    pub fn subdivision_code(&mut self, field: &str, code: &str) {
        if !sse_reference::is_subdivision_code(code) {
            self.add(
                field,
                format!("{} is not an ISO 3166-2 subdivision code (e.g. CA-QC)", quoted(code)),
            );
        }
    }

    /// A value that appears twice in a repeated field.
    pub fn no_duplicates<T: PartialEq + std::fmt::Display>(&mut self, field: &str, values: &[T]) {
        for (index, value) in values.iter().enumerate() {
            if values[..index].contains(value) {
                self.add(
                    format!("{field}[{index}]"),
                    format!("{} is given twice", quoted(&value.to_string())),
                );
            }
        }
    }

    pub fn partial_date(&mut self, field: &str, date: &PartialDate) {
        if !(1..=9999).contains(&date.year) {
            self.add(format!("{field}.year"), "must be from 1 to 9999");
        }
        if !(0..=12).contains(&date.month) {
            self.add(format!("{field}.month"), "must be from 1 to 12, or 0 when unknown");
        }
        if date.day != 0 {
            let last_day = days_in_month(date.year, date.month);
            if date.month == 0 {
                self.add(format!("{field}.day"), "a day needs a month");
            } else if !(1..=last_day).contains(&date.day) {
                self.add(
                    format!("{field}.day"),
                    format!("must be from 1 to {last_day}, or 0 when unknown"),
                );
            }
        }
    }

    pub fn lat_lng(&mut self, field: &str, point: &LatLng) {
        if !(-90.0..=90.0).contains(&point.latitude) {
            self.add(format!("{field}.latitude"), "must be from -90 to 90");
        }
        if !(-180.0..=180.0).contains(&point.longitude) {
            self.add(format!("{field}.longitude"), "must be from -180 to 180");
        }
    }

    pub fn source(&mut self, field: &str, source: &SourceCitation) {
        self.within(field, |violations| {
            violations.required("title", &source.title);
            violations.max_chars("title", &source.title, 500);
            violations.optional_url("url", &source.url);
            violations.max_chars("publisher", &source.publisher, 300);
            if let Some(date) = &source.date {
                violations.partial_date("date", date);
            }
        });
    }

    pub fn identifier(&mut self, field: &str, identifier: &ExternalIdentifier) {
        self.within(field, |violations| {
            violations.required("scheme", &identifier.scheme);
            violations.max_chars("scheme", &identifier.scheme, 64);
            violations.required("value", &identifier.value);
            violations.max_chars("value", &identifier.value, 256);
        });
    }

    /// Runs `check` on a part of the request, whose fields it names from that part (`title`,
    /// not `requests[12].observation.source.title`): `prefix` and a dot go in front of the
    /// violations it finds, and of those only. Paths written out for every field cost the check
    /// of a valid batch of 5,000 observations about 35,000 strings formatted and freed, for
    /// errors that were not there (the check fell from 7.4% to 3.4% of the server's samples
    /// while such batches were written).
    pub fn within<T>(&mut self, prefix: &str, check: impl FnOnce(&mut Violations) -> T) -> T {
        let mut found = Violations::default();
        let result = check(&mut found);
        self.0.extend(found.0.into_iter().map(|mut violation| {
            violation.field = format!("{prefix}.{}", violation.field);
            violation
        }));
        result
    }
}

fn days_in_month(year: i32, month: i32) -> i32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A short checksum of a resource's serialized state, for its `etag`.
pub fn etag_of(resource: &impl serde::Serialize) -> ServiceResult<String> {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(resource).map_err(|error| ServiceError::Internal(error.into()))?;
    Ok(hex::encode(&Sha256::digest(&json)[..8]))
}

/// Orders partial dates, unknown parts counting as the earliest.
pub fn partial_date_key(date: &PartialDate) -> (i32, i32, i32) {
    (date.year, date.month, date.day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(violations: &Violations) -> Vec<&str> {
        violations.0.iter().map(|violation| violation.field.as_str()).collect()
    }

    #[test]
    fn within_names_the_violations_found_from_the_whole_request() {
        let mut violations = Violations::default();
        violations.add("request_id", "is too long");
        let answer = violations.within("requests[3].observation", |violations| {
            violations.required("note", "");
            violations.source(
                "source",
                &SourceCitation {
                    title: String::new(),
                    url: "not a url".to_owned(),
                    date: Some(PartialDate {
                        year: 2023,
                        month: 2,
                        day: 30,
                    }),
                    ..SourceCitation::default()
                },
            );
            42
        });
        assert_eq!(answer, 42);
        assert_eq!(
            fields(&violations),
            [
                "request_id",
                "requests[3].observation.note",
                "requests[3].observation.source.title",
                "requests[3].observation.source.url",
                "requests[3].observation.source.date.day",
            ]
        );
        assert!(violations.mentions("requests[3].observation.source"));
        let mut clean = Violations::default();
        clean.within("requests[0]", |violations| violations.required("note", "a note"));
        assert!(clean.is_empty());
    }

    #[test]
    fn urls_must_be_absolute_http() {
        let mut violations = Violations::default();
        violations.optional_url("a", "https://www.unccd.int/x");
        violations.optional_url("b", "");
        violations.optional_url("c", "not a url");
        violations.optional_url("d", "ftp://example.org/");
        assert_eq!(fields(&violations), ["c", "d"]);
    }

    #[test]
    fn partial_dates_reject_impossible_days() {
        let mut violations = Violations::default();
        violations.partial_date(
            "a",
            &PartialDate {
                year: 2024,
                month: 2,
                day: 29,
            },
        );
        violations.partial_date(
            "b",
            &PartialDate {
                year: 2023,
                month: 2,
                day: 29,
            },
        );
        violations.partial_date(
            "c",
            &PartialDate {
                year: 2023,
                month: 0,
                day: 3,
            },
        );
        violations.partial_date(
            "d",
            &PartialDate {
                year: 0,
                month: 13,
                day: 0,
            },
        );
        assert_eq!(fields(&violations), ["b.day", "c.day", "d.year", "d.month"]);
    }

    #[test]
    fn control_characters_other_than_tab_and_newline_are_refused() {
        let mut violations = Violations::default();
        violations.max_chars("a", "tab\there\nnewline", 100);
        violations.max_chars("b", "nul\0", 100);
        violations.max_chars("c", "escape\u{1b}[31m", 100);
        violations.max_chars("d", "carriage\r", 100);
        violations.max_chars("e", "next line\u{85}", 100);
        assert_eq!(fields(&violations), ["b", "c", "d", "e"]);
        assert_eq!(forbidden_char("ab\u{7}"), Some((2, '\u{7}')));
    }

    #[test]
    fn quoted_values_are_cut_and_printable() {
        assert_eq!(quoted("fr"), "`fr`");
        assert_eq!(quoted("a\0b"), "`a\\0b`");
        let long = "x".repeat(4 * 1024 * 1024);
        let shown = quoted(&long);
        assert!(shown.len() < 80, "{shown}");
        assert!(shown.ends_with("(4194304 characters)"));
    }

    #[test]
    fn lengths_count_characters() {
        let mut violations = Violations::default();
        violations.max_chars("a", "chômeur", 7);
        violations.max_chars("b", "chômeurs", 7);
        assert_eq!(fields(&violations), ["b"]);
    }
}
