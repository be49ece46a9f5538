//! Ranking and snippets for SearchLegalTexts, computed in Rust from the postings of the query's
//! terms, so that the same query ranks the same on SQLite and PostgreSQL. Ranking is BM25 over
//! the weighted fields of a text (title 3, summary 2, provisions 1); a word found in the exact
//! form asked for (up to case and accents) counts fully, in another form (a stem match) half; two
//! query words found side by side (a phrase) count again, more in a title; a quoted phrase must
//! be found. The README states the rules.

use std::collections::{BTreeSet, HashMap};

use sse_proto::lawguide::{LegalText, Snippet, snippet::Section};

use crate::analysis::{Field, FieldCounts, Indexer, Phrase, Query, QueryWord, tokens};

/// BM25's term-frequency saturation and length normalisation.
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// What each level of match counts: the word as written (accents included) on top of the word up
/// to accents, on top of the word in any form (a stem match).
const VERBATIM_WEIGHT: f64 = 0.5;
const EXACT_WEIGHT: f64 = 1.0;
const ANY_FORM_WEIGHT: f64 = 0.5;
/// What two query words side by side count, on top of each word (see [`rank`]).
const PHRASE_WEIGHT: f64 = 1.0;
/// A phrase is rare enough that a long text holding it often is about it: its count is not
/// normalised by the text's length.
const PHRASE_B: f64 = 0.65;
/// What a query word or phrase found in a title counts on top of its BM25 share, so that a title
/// match outranks matches in the body (see [`rank`]).
const TITLE_WEIGHT: f64 = 0.5;
/// The most snippets per result.
pub const MAX_SNIPPETS: usize = 3;
/// About how many characters a snippet shows, and how many of them come before the first match.
const SNIPPET_CHARS: usize = 280;
const CONTEXT_CHARS: usize = 60;

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

/// What one query term stands for.
#[derive(Debug, Clone, Copy)]
enum Role {
    Verbatim(usize),
    Exact(usize),
    /// A stem of a word (the word in another form).
    Stem(usize),
    Pair(usize),
}

/// What the postings say of one text: per query word, its counts as written, up to accents and
/// in any form; per pair of neighbouring words, its counts.
struct Matched {
    length: i64,
    words: Vec<[FieldCounts; 3]>,
    pairs: Vec<FieldCounts>,
}

/// Ranks the texts matching at least one query word (and every quoted phrase) from the postings
/// of the query's terms, fed one at a time as the database returns them ([`Ranker::add`]): it
/// keeps a few counts per matching text, never the postings themselves, so a broad query over a
/// large collection holds little.
///
/// Each query word counts as three BM25 terms: the word as written, the word up to case and
/// accents, and the word in any form (stem matches), weighted by [`VERBATIM_WEIGHT`],
/// [`EXACT_WEIGHT`] and [`ANY_FORM_WEIGHT`]. Each has its own rarity, so a word whose stem is
/// everywhere ("econom") still tells texts apart by its exact form ("economia"), and an
/// accented word ("coopératives") prefers texts that spell it so. Each pair of neighbouring
/// query words counts as one more BM25 term, weighted by [`PHRASE_WEIGHT`], so a text with the
/// phrase outranks one with the words apart. A word or pair found in a title adds
/// [`TITLE_WEIGHT`] times its rarity, unsaturated by length.
/// Counts are whole numbers gathered per text, and each text's score is summed in query order,
/// so scores do not depend on the order the database returned the postings in.
pub struct Ranker<'q> {
    query: &'q Query,
    roles: HashMap<&'q str, Vec<Role>>,
    texts: HashMap<String, Matched>,
}

impl<'q> Ranker<'q> {
    pub fn new(query: &'q Query) -> Self {
        let mut roles: HashMap<&str, Vec<Role>> = HashMap::new();
        for (index, word) in query.words.iter().enumerate() {
            roles.entry(&word.verbatim).or_default().push(Role::Verbatim(index));
            roles.entry(&word.exact).or_default().push(Role::Exact(index));
            for stem in &word.stems {
                roles.entry(stem).or_default().push(Role::Stem(index));
            }
        }
        for (index, pair) in query.pairs.iter().enumerate() {
            roles.entry(pair).or_default().push(Role::Pair(index));
        }
        Ranker {
            query,
            roles,
            texts: HashMap::new(),
        }
    }

    /// One posting: `term` occurs `counts` times in the text `legal_text_id`, of weighted
    /// length `length`. A term the query does not ask for is ignored.
    pub fn add(&mut self, term: &str, legal_text_id: &str, counts: FieldCounts, length: i64) {
        let Some(roles) = self.roles.get(term) else {
            return;
        };
        if !self.texts.contains_key(legal_text_id) {
            let matched = Matched {
                length,
                words: vec![[[0; 3]; 3]; self.query.words.len()],
                pairs: vec![[0; 3]; self.query.pairs.len()],
            };
            self.texts.insert(legal_text_id.to_owned(), matched);
        }
        let Some(matched) = self.texts.get_mut(legal_text_id) else {
            return;
        };
        for role in roles {
            match *role {
                Role::Verbatim(word) => matched.words[word][0] = counts,
                Role::Exact(word) => {
                    matched.words[word][1] = counts;
                    max_into(&mut matched.words[word][2], counts);
                }
                Role::Stem(word) => max_into(&mut matched.words[word][2], counts),
                Role::Pair(pair) => matched.pairs[pair] = counts,
            }
        }
    }

    /// Whether no posting of the query's terms was added.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// The ranking, best first (ties by id). `allowed`, when given, holds the ids a filter lets
    /// through; it does not change scores.
    pub fn finish(self, collection: Collection, allowed: Option<&BTreeSet<String>>) -> Vec<Ranked> {
        let Ranker { query, mut texts, .. } = self;
        // Rarity is counted over every text holding a term, whatever the filter and the quoted
        // phrases, as BM25 expects.
        let rarity = |holding: &dyn Fn(&Matched) -> bool| {
            inverse_document_frequency(
                collection.texts,
                texts.values().filter(|matched| holding(matched)).count(),
            )
        };
        let word_rarity: Vec<[f64; 3]> = (0..query.words.len())
            .map(|word| [0, 1, 2].map(|form| rarity(&|matched: &Matched| weighted(matched.words[word][form]) > 0.0)))
            .collect();
        let pair_rarity: Vec<f64> = (0..query.pairs.len())
            .map(|pair| rarity(&|matched: &Matched| weighted(matched.pairs[pair]) > 0.0))
            .collect();
        texts.retain(|id, matched| {
            allowed.is_none_or(|allowed| allowed.contains(id))
                && query.required.iter().all(|phrase| match phrase {
                    Phrase::Word(word) => weighted(matched.words[*word][2]) > 0.0,
                    Phrase::Pairs(pairs) => pairs.iter().all(|pair| weighted(matched.pairs[*pair]) > 0.0),
                })
                // A pair of stems alone (no word in the exact form or a stem) is not a hit.
                && matched.words.iter().any(|forms| weighted(forms[2]) > 0.0)
        });
        let forms = [VERBATIM_WEIGHT, EXACT_WEIGHT, ANY_FORM_WEIGHT];
        let mut ranked: Vec<Ranked> = texts
            .into_iter()
            .map(|(legal_text_id, matched)| {
                let mut score = 0.0;
                for (word, counts) in matched.words.iter().enumerate() {
                    for (form, weight) in forms.iter().enumerate() {
                        let frequency = weighted(counts[form]);
                        if frequency > 0.0 {
                            score +=
                                weight * word_rarity[word][form] * saturation(frequency, matched.length, collection);
                        }
                    }
                    if counts[2][Field::Title.index()] > 0 {
                        score += TITLE_WEIGHT * word_rarity[word][2];
                    }
                }
                for (pair, counts) in matched.pairs.iter().enumerate() {
                    let frequency = weighted(*counts);
                    if frequency > 0.0 {
                        score += PHRASE_WEIGHT
                            * pair_rarity[pair]
                            * saturation_with(frequency, matched.length, collection, PHRASE_B);
                    }
                    if counts[Field::Title.index()] > 0 {
                        score += TITLE_WEIGHT * pair_rarity[pair];
                    }
                }
                Ranked { legal_text_id, score }
            })
            .collect();
        ranked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.legal_text_id.cmp(&b.legal_text_id))
        });
        ranked
    }
}

fn max_into(target: &mut FieldCounts, counts: FieldCounts) {
    for (target, count) in target.iter_mut().zip(counts) {
        *target = (*target).max(count);
    }
}

/// Occurrences, each weighted by its field.
fn weighted(counts: FieldCounts) -> f64 {
    Field::ALL
        .into_iter()
        .map(|field| f64::from(field.weight()) * f64::from(counts[field.index()]))
        .sum()
}

fn inverse_document_frequency(texts: usize, matching: usize) -> f64 {
    let (texts, matching) = (texts as f64, matching as f64);
    (1.0 + (texts - matching + 0.5) / (matching + 0.5)).ln()
}

/// BM25's frequency saturation, normalised by the text's length.
fn saturation(frequency: f64, length: i64, collection: Collection) -> f64 {
    saturation_with(frequency, length, collection, B)
}

/// BM25's frequency saturation with `b` as the length normalisation.
fn saturation_with(frequency: f64, length: i64, collection: Collection, b: f64) -> f64 {
    let average_length = collection.average_length.max(1.0);
    let norm = K1 * (1.0 - b + b * length as f64 / average_length);
    frequency * (K1 + 1.0) / (frequency + norm)
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

    /// The postings of each text (id, language, title, summary), and the collection they make.
    /// One posting of the index the tests build: term, text id, counts, the text's length.
    type Posting = (String, String, FieldCounts, i64);

    fn rank(
        query: &Query,
        postings: &[Posting],
        collection: Collection,
        allowed: Option<&BTreeSet<String>>,
    ) -> Vec<Ranked> {
        let mut ranker = Ranker::new(query);
        for (term, legal_text_id, counts, length) in postings {
            ranker.add(term, legal_text_id, *counts, *length);
        }
        ranker.finish(collection, allowed)
    }

    fn index(texts: &[(&str, &str, &str, &str)]) -> (Vec<Posting>, Collection) {
        let mut all = Vec::new();
        let mut total = 0;
        for (id, language, title, summary) in texts {
            let indexed = IndexedText::new(language, [(Field::Title, *title), (Field::Summary, *summary)]);
            total += indexed.weighted_length;
            all.extend(
                indexed
                    .counts
                    .iter()
                    .map(|(term, counts)| (term.clone(), (*id).to_owned(), *counts, indexed.weighted_length)),
            );
        }
        let collection = Collection {
            texts: texts.len(),
            average_length: total as f64 / texts.len() as f64,
        };
        (all, collection)
    }

    fn ids(query: &str, language: Option<&str>, texts: &[(&str, &str, &str, &str)]) -> Vec<String> {
        let (postings, collection) = index(texts);
        rank(&Query::parse(query, language), &postings, collection, None)
            .into_iter()
            .map(|ranked| ranked.legal_text_id)
            .collect()
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
        // The exact forms in the title first; exact forms in the summary outweigh other forms
        // ("économie") in the title.
        assert_eq!(ids("economia social", None, &texts), ["es", "summary-only", "fr"]);
        let (postings, collection) = index(&texts);
        let allowed = BTreeSet::from(["fr".to_owned()]);
        let filtered = rank(
            &Query::parse("economia social", None),
            &postings,
            collection,
            Some(&allowed),
        );
        assert_eq!(filtered.len(), 1);
    }

    #[test]
    fn a_phrase_outranks_its_words_apart_and_a_quoted_phrase_is_required() {
        let texts = [
            (
                "apart",
                "es",
                "Ley de fomento",
                "La economía del país y la cohesión social.",
            ),
            (
                "phrase",
                "es",
                "Ley de fomento",
                "La economía social del país y su cohesión.",
            ),
            ("one-word", "es", "Ley de fomento", "La economía del país."),
        ];
        assert_eq!(
            ids("economía social", Some("es"), &texts),
            ["phrase", "apart", "one-word"]
        );
        assert_eq!(ids("\"economía social\"", Some("es"), &texts), ["phrase"]);
        assert_eq!(ids("\"cohesión\" economía", Some("es"), &texts), ["apart", "phrase"]);
    }

    #[test]
    fn a_title_match_outranks_body_matches() {
        let texts = [
            (
                "body",
                "es",
                "Ley de fomento",
                "Las mutualidades y otras mutualidades del sector.",
            ),
            (
                "title",
                "es",
                "Ley de mutualidades",
                "Regula el sector y otras entidades del país.",
            ),
        ];
        assert_eq!(ids("mutualidades", Some("es"), &texts), ["title", "body"]);
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
