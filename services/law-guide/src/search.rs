//! Ranking and snippets for SearchLegalTexts, computed in Rust from the stored search terms so
//! that the same query ranks the same on SQLite and PostgreSQL. Ranking is BM25 over the
//! weighted fields of a text (title 3, summary 2, provisions 1); a word found in the exact form
//! asked for (up to case and accents) counts fully, in another form (a stem match) half.

use std::collections::{BTreeMap, BTreeSet};

use sse_proto::lawguide::{LegalText, Snippet, snippet::Section};

use crate::analysis::{Field, Indexer, QueryWord, tokens};

/// BM25's term-frequency saturation and length normalisation.
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// What each level of match counts: the word as written (accents included) on top of the word up
/// to accents, on top of the word in any form (a stem match).
const VERBATIM_WEIGHT: f64 = 0.5;
const EXACT_WEIGHT: f64 = 1.0;
const ANY_FORM_WEIGHT: f64 = 0.5;
/// The most snippets per result.
pub const MAX_SNIPPETS: usize = 3;
/// About how many characters a snippet shows, and how many of them come before the first match.
const SNIPPET_CHARS: usize = 280;
const CONTEXT_CHARS: usize = 60;

/// One row of the search index.
#[derive(Debug, Clone)]
pub struct Posting {
    pub legal_text_id: String,
    pub field: Field,
    pub term: String,
    pub count: i32,
}

/// What BM25 needs to know of the whole collection.
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    pub texts: usize,
    pub average_length: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub legal_text_id: String,
    pub score: f64,
}

/// The texts matching at least one query word, best first (ties by id). `lengths` holds each
/// text's weighted length; `allowed`, when given, the ids a filter lets through.
///
/// Each query word counts as three BM25 terms: the word as written, the word up to case and
/// accents, and the word in any form (stem matches), weighted by [`VERBATIM_WEIGHT`],
/// [`EXACT_WEIGHT`] and [`ANY_FORM_WEIGHT`]. Each has its own rarity, so a word whose stem is
/// everywhere ("econom") still tells texts apart by its exact form ("economia"), and an
/// accented word ("coopératives") prefers texts that spell it so.
/// Frequencies are gathered in sorted maps, so the floating-point sums run in the same order
/// whatever order the database returned the postings in.
pub fn rank(
    words: &[QueryWord],
    postings: &[Posting],
    lengths: &BTreeMap<String, i64>,
    collection: Collection,
    allowed: Option<&BTreeSet<String>>,
) -> Vec<Ranked> {
    let mut counts: BTreeMap<&str, BTreeMap<(Field, &str), i32>> = BTreeMap::new();
    for posting in postings {
        counts
            .entry(&posting.legal_text_id)
            .or_default()
            .insert((posting.field, &posting.term), posting.count);
    }
    let mut scores: BTreeMap<&str, f64> = BTreeMap::new();
    for word in words {
        let forms = [
            (Form::Verbatim, VERBATIM_WEIGHT),
            (Form::Exact, EXACT_WEIGHT),
            (Form::Any, ANY_FORM_WEIGHT),
        ];
        for (form, weight) in forms {
            let frequencies: Vec<(&str, f64)> = counts
                .iter()
                .map(|(id, terms)| (*id, weighted_frequency(word, form, terms)))
                .filter(|(_, frequency)| *frequency > 0.0)
                .collect();
            let idf = inverse_document_frequency(collection.texts, frequencies.len());
            for (id, frequency) in frequencies {
                let length = lengths.get(id).copied().unwrap_or_default();
                *scores.entry(id).or_default() += weight * idf * saturation(frequency, length, collection);
            }
        }
    }
    let mut ranked: Vec<Ranked> = scores
        .into_iter()
        .filter(|(id, _)| allowed.is_none_or(|allowed| allowed.contains(*id)))
        .map(|(id, score)| Ranked {
            legal_text_id: id.to_owned(),
            score,
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.legal_text_id.cmp(&b.legal_text_id))
    });
    ranked
}

/// Which matches of a query word count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// The word as asked, up to case.
    Verbatim,
    /// The word as asked, up to case and accents.
    Exact,
    /// The word in any form: the exact one or a stem match.
    Any,
}

fn inverse_document_frequency(texts: usize, matching: usize) -> f64 {
    let (texts, matching) = (texts as f64, matching as f64);
    (1.0 + (texts - matching + 0.5) / (matching + 0.5)).ln()
}

/// BM25's frequency saturation, normalised by the text's length.
fn saturation(frequency: f64, length: i64, collection: Collection) -> f64 {
    let average_length = collection.average_length.max(1.0);
    let norm = K1 * (1.0 - B + B * length as f64 / average_length);
    frequency * (K1 + 1.0) / (frequency + norm)
}

/// How often `word` occurs in a text in `form`, each field weighted.
fn weighted_frequency(word: &QueryWord, form: Form, terms: &BTreeMap<(Field, &str), i32>) -> f64 {
    Field::ALL
        .into_iter()
        .map(|field| {
            let count = |term: &str| f64::from(terms.get(&(field, term)).copied().unwrap_or_default());
            let exact = count(&word.exact);
            let occurrences = match form {
                Form::Verbatim => count(&word.verbatim),
                Form::Exact => exact,
                Form::Any => word.stems.iter().map(|stem| count(stem)).fold(exact, f64::max),
            };
            f64::from(field.weight()) * occurrences
        })
        .sum()
}

/// Where the query's words occur in one string: the byte spans to highlight and which query
/// words they are.
struct Matches {
    spans: Vec<(usize, usize)>,
    words: BTreeSet<usize>,
}

fn find_matches(text: &str, words: &[QueryWord], indexer: &Indexer) -> Matches {
    let mut matches = Matches {
        spans: Vec::new(),
        words: BTreeSet::new(),
    };
    for token in tokens(text) {
        let terms = indexer.terms(&token);
        let mut matched = false;
        for (index, word) in words.iter().enumerate() {
            if word.terms().any(|term| terms.contains(term)) {
                matches.words.insert(index);
                matched = true;
            }
        }
        if matched {
            matches.spans.push((token.start, token.end));
        }
    }
    matches
}

/// A candidate snippet: how well it matches, then the snippet itself.
struct Candidate {
    words: usize,
    hits: usize,
    /// Provisions first, then the summary, then the title, at equal match.
    priority: usize,
    position: usize,
    snippet: Snippet,
}

/// Up to [`MAX_SNIPPETS`] passages of `text` where the query's words occur, the passages
/// matching the most query words first, provisions before the summary before the title.
pub fn snippets(text: &LegalText, words: &[QueryWord]) -> Vec<Snippet> {
    let indexer = Indexer::new(&text.language);
    let mut candidates = Vec::new();
    for (position, provision) in text.provisions.iter().enumerate() {
        let heading = find_matches(&provision.heading, words, &indexer);
        let body = find_matches(&provision.text, words, &indexer);
        let matched: BTreeSet<usize> = heading.words.union(&body.words).copied().collect();
        if matched.is_empty() {
            continue;
        }
        let shown = if body.spans.is_empty() {
            highlight(&provision.heading, &heading.spans)
        } else {
            highlight(&provision.text, &body.spans)
        };
        candidates.push(Candidate {
            words: matched.len(),
            hits: heading.spans.len() + body.spans.len(),
            priority: 0,
            position,
            snippet: Snippet {
                section: Section::Provision.into(),
                provision_number: provision.number.clone(),
                provision_heading: provision.heading.clone(),
                text: shown,
            },
        });
    }
    let summary = find_matches(&text.summary, words, &indexer);
    if !summary.spans.is_empty() {
        candidates.push(Candidate {
            words: summary.words.len(),
            hits: summary.spans.len(),
            priority: 1,
            position: 0,
            snippet: Snippet {
                section: Section::Summary.into(),
                text: highlight(&text.summary, &summary.spans),
                ..Default::default()
            },
        });
    }
    let titles = [&text.title, &text.title_en, &text.number];
    if let Some((title, matches)) = titles
        .into_iter()
        .map(|title| (title, find_matches(title, words, &indexer)))
        .filter(|(_, matches)| !matches.spans.is_empty())
        // The title that matches the most query words; the original title on a tie.
        .min_by_key(|(_, matches)| std::cmp::Reverse(matches.words.len()))
    {
        candidates.push(Candidate {
            words: matches.words.len(),
            hits: matches.spans.len(),
            priority: 2,
            position: 0,
            snippet: Snippet {
                section: Section::Title.into(),
                text: highlight(title, &matches.spans),
                ..Default::default()
            },
        });
    }
    candidates.sort_by(|a, b| {
        b.words
            .cmp(&a.words)
            .then(a.priority.cmp(&b.priority))
            .then(b.hits.cmp(&a.hits))
            .then(a.position.cmp(&b.position))
    });
    candidates
        .into_iter()
        .take(MAX_SNIPPETS)
        .map(|candidate| candidate.snippet)
        .collect()
}

/// `text` around its first match, HTML-escaped, each match in `<em>…</em>`, "…" where cut.
fn highlight(text: &str, spans: &[(usize, usize)]) -> String {
    let first = spans.first().map_or(0, |span| span.0);
    let (start, end) = window(text, first);
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    let mut cursor = start;
    for &(span_start, span_end) in spans {
        if span_start < cursor || span_end > end {
            continue;
        }
        escape_into(&mut shown, &text[cursor..span_start]);
        shown.push_str("<em>");
        escape_into(&mut shown, &text[span_start..span_end]);
        shown.push_str("</em>");
        cursor = span_end;
    }
    escape_into(&mut shown, &text[cursor..end]);
    if end < text.len() {
        shown.push('…');
    }
    shown
}

/// The byte range shown of `text`: all of it when short, else about [`SNIPPET_CHARS`]
/// characters starting a little before the first match, cut at spaces.
fn window(text: &str, first_match: usize) -> (usize, usize) {
    if text.chars().count() <= SNIPPET_CHARS {
        return (0, text.len());
    }
    let before: Vec<usize> = text[..first_match].char_indices().map(|(offset, _)| offset).collect();
    let mut start = 0;
    if before.len() > CONTEXT_CHARS {
        start = before[before.len() - CONTEXT_CHARS];
        // Past the space, whatever its width: non-breaking and narrow spaces are several bytes.
        if let Some((space, character)) = text[start..first_match]
            .char_indices()
            .find(|(_, character)| character.is_whitespace())
        {
            start += space + character.len_utf8();
        }
    }
    let mut end = text[start..]
        .char_indices()
        .nth(SNIPPET_CHARS)
        .map_or(text.len(), |(offset, _)| start + offset);
    if end < text.len()
        && let Some(space) = text[start..end].rfind(char::is_whitespace)
        && start + space > first_match
    {
        end = start + space;
    }
    (start, end)
}

fn escape_into(out: &mut String, text: &str) {
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_window_starts_past_a_wide_space() {
        // French typography puts narrow no-break spaces before colons; they are three bytes.
        let text = format!(
            "{}\u{202f}{} coopérative {}",
            "x".repeat(100),
            "w".repeat(50),
            "z ".repeat(200)
        );
        let first_match = text.find("coopérative").expect("match");
        let (start, end) = window(&text, first_match);
        assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
        assert!(start <= first_match && first_match < end);
    }
    use crate::analysis::{IndexedText, query_words};
    use sse_proto::lawguide::Provision;

    fn postings(id: &str, language: &str, title: &str, summary: &str) -> (Vec<Posting>, i64) {
        let indexed = IndexedText::new(language, [(Field::Title, title), (Field::Summary, summary)]);
        let postings = indexed
            .counts
            .iter()
            .map(|((field, term), count)| Posting {
                legal_text_id: id.to_owned(),
                field: *field,
                term: term.clone(),
                count: *count,
            })
            .collect();
        (postings, indexed.weighted_length)
    }

    #[test]
    fn exact_forms_and_titles_rank_first() {
        let texts = [
            ("es", "es", "Ley de Economía Social", ""),
            ("fr", "fr", "Loi relative à l'économie sociale", ""),
            (
                "summary-only",
                "es",
                "Ley de cooperativas",
                "Trata de la economía social.",
            ),
            ("other", "en", "Cooperatives act", "Nothing relevant."),
        ];
        let mut all = Vec::new();
        let mut lengths = BTreeMap::new();
        for (id, language, title, summary) in texts {
            let (found, length) = postings(id, language, title, summary);
            all.extend(found);
            lengths.insert(id.to_owned(), length);
        }
        let collection = Collection {
            texts: lengths.len(),
            average_length: lengths.values().sum::<i64>() as f64 / lengths.len() as f64,
        };
        let words = query_words("economia social", None);
        let ranked: Vec<String> = rank(&words, &all, &lengths, collection, None)
            .into_iter()
            .map(|ranked| ranked.legal_text_id)
            .collect();
        // The exact forms in the title first; exact forms in the summary outweigh other forms
        // ("économie") in the title.
        assert_eq!(ranked, ["es", "summary-only", "fr"]);
        let allowed = BTreeSet::from(["fr".to_owned()]);
        let filtered = rank(&words, &all, &lengths, collection, Some(&allowed));
        assert_eq!(filtered.len(), 1);
    }

    #[test]
    fn snippets_name_the_provision_and_highlight_every_form() {
        let text = LegalText {
            title: "Loi relative à l'économie sociale et solidaire".to_owned(),
            language: "fr".to_owned(),
            provisions: vec![
                Provision {
                    number: "art. 1".to_owned(),
                    heading: "Définition".to_owned(),
                    text: "Les coopératives, mutuelles & associations <en> font partie.".to_owned(),
                    ..Default::default()
                },
                Provision {
                    number: "art. 2".to_owned(),
                    heading: "Rien".to_owned(),
                    text: "Sans rapport.".to_owned(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let found = snippets(&text, &query_words("coopérative", Some("fr")));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].provision_number, "art. 1");
        assert_eq!(found[0].section(), Section::Provision);
        assert_eq!(
            found[0].text,
            "Les <em>coopératives</em>, mutuelles &amp; associations &lt;en&gt; font partie."
        );
        let title = snippets(&text, &query_words("economie", None));
        assert_eq!(title[0].section(), Section::Title);
        assert_eq!(title[0].text, "Loi relative à l'<em>économie</em> sociale et solidaire");
    }

    #[test]
    fn long_passages_are_cut_around_the_first_match() {
        let text = format!("{} coopérative {}", "mot ".repeat(100), "fin ".repeat(100));
        let start = text.find("coopérative").expect("the word is there");
        let spans: Vec<(usize, usize)> = vec![(start, start + "coopérative".len())];
        let shown = highlight(&text, &spans);
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert!(shown.contains("<em>coopérative</em>"));
        assert!(shown.chars().count() < SNIPPET_CHARS + 20);
    }
}
