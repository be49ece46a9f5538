//! How text becomes search terms, the same at write time and at query time, in Rust so that
//! search behaves identically on SQLite and PostgreSQL. A word is indexed under four terms: its
//! verbatim form (lower case, accents kept), its folded form (accents and ligatures removed), a
//! cheap cross-language stem (plurals and final vowels stripped), and its Snowball stem in the
//! text's language. A query word is expanded the same way, in the query's language or in all of
//! them, so that the closer a text's word is to the one asked for, the more it counts. Two
//! neighbouring words of one passage are also indexed as a pair of light stems, so that a phrase
//! is found by looking its pairs up, without word positions.

use std::collections::BTreeMap;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// The languages with a Snowball stemmer, by ISO 639-1 code.
const STEMMERS: &[(&str, Algorithm)] = &[
    ("ar", Algorithm::Arabic),
    ("da", Algorithm::Danish),
    ("de", Algorithm::German),
    ("el", Algorithm::Greek),
    ("en", Algorithm::English),
    ("es", Algorithm::Spanish),
    ("fi", Algorithm::Finnish),
    ("fr", Algorithm::French),
    ("hu", Algorithm::Hungarian),
    ("it", Algorithm::Italian),
    ("nl", Algorithm::Dutch),
    ("no", Algorithm::Norwegian),
    ("pt", Algorithm::Portuguese),
    ("ro", Algorithm::Romanian),
    ("ru", Algorithm::Russian),
    ("sv", Algorithm::Swedish),
    ("ta", Algorithm::Tamil),
    ("tr", Algorithm::Turkish),
];

/// Words too common to tell texts apart, folded, in the five languages the guide searches best.
/// Single letters are dropped anyway.
const STOPWORDS: &[&str] = &[
    // English
    "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "its", "of", "on", "or",
    "that", "the", "their", "this", "to", "was", "which", "with", // French
    "au", "aux", "ce", "ces", "dans", "de", "des", "du", "en", "est", "et", "la", "le", "les", "leur", "leurs", "par",
    "pour", "qu", "que", "qui", "sa", "se", "ses", "son", "sur", "un", "une", // Spanish
    "al", "con", "del", "el", "las", "lo", "los", "para", "por", "se", "su", "sus", "una", "uno", "unos",
    // Portuguese
    "as", "com", "da", "das", "do", "dos", "em", "na", "nas", "no", "nos", "os", "um", "uma", // Italian
    "dei", "della", "delle", "di", "gli", "il", "nel", "nella", "per",
];

/// A field of a legal text, as the index knows it; the title weighs most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// The number, the title and the English title.
    Title,
    Summary,
    /// Every provision's heading and text.
    Provisions,
}

impl Field {
    pub const ALL: [Field; 3] = [Field::Title, Field::Summary, Field::Provisions];

    /// How much a word in this field counts, relative to one in a provision.
    pub fn weight(self) -> u32 {
        match self {
            Field::Title => 3,
            Field::Summary => 2,
            Field::Provisions => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Summary => "summary",
            Field::Provisions => "provisions",
        }
    }

    pub fn parse(text: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.as_str() == text)
    }

    /// Its place in [`Field::ALL`], and in the per-field counts of a posting.
    pub fn index(self) -> usize {
        match self {
            Field::Title => 0,
            Field::Summary => 1,
            Field::Provisions => 2,
        }
    }
}

/// How often a term occurs in each field of a text, in the order of [`Field::ALL`].
pub type FieldCounts = [i32; 3];

/// One word of a text: where it is (byte offsets, for highlighting), in lower case, and folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub start: usize,
    pub end: usize,
    pub verbatim: String,
    pub folded: String,
}

/// The words of `text` worth indexing: runs of letters and digits, folded, without stopwords
/// and single letters.
pub fn tokens(text: &str) -> Vec<Token> {
    let mut found = Vec::new();
    let mut start = None;
    for (offset, character) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (character.is_alphanumeric(), start) {
            (true, None) => start = Some(offset),
            (false, Some(begin)) => {
                let word = &text[begin..offset];
                let folded = fold(word);
                if is_searchable(&folded) {
                    found.push(Token {
                        start: begin,
                        end: offset,
                        verbatim: word.nfc().flat_map(char::to_lowercase).collect(),
                        folded,
                    });
                }
                start = None;
            }
            _ => {}
        }
    }
    found
}

/// Lower case, without accents (NFKD minus combining marks) and with ligatures spelt out:
/// "Économie" and "economie" fold alike, as do "Œuvre" and "oeuvre".
pub fn fold(word: &str) -> String {
    let mut folded = String::with_capacity(word.len());
    for character in word.nfkd().filter(|character| !is_combining_mark(*character)) {
        match character {
            'œ' | 'Œ' => folded.push_str("oe"),
            'æ' | 'Æ' => folded.push_str("ae"),
            'ß' => folded.push_str("ss"),
            'ø' | 'Ø' => folded.push('o'),
            'ł' | 'Ł' => folded.push('l'),
            'đ' | 'Đ' => folded.push('d'),
            'ς' => folded.push('σ'),
            other => folded.extend(other.to_lowercase()),
        }
    }
    folded
}

fn is_searchable(folded: &str) -> bool {
    let mut characters = folded.chars();
    match (characters.next(), characters.next()) {
        (None, _) => false,
        (Some(only), None) => only.is_ascii_digit(),
        _ => !STOPWORDS.contains(&folded),
    }
}

/// A stem shared by the Romance languages and English, for matching across them: a French
/// "-aux" plural becomes "-al", a final "s" goes, then final vowels go while more than four
/// letters remain. "coopératives", "cooperativas" and "cooperative" all become "cooperativ";
/// "economía", "economia", "économie" and "economy" become "econom".
pub fn light_stem(folded: &str) -> String {
    let mut letters: Vec<char> = folded.chars().collect();
    if letters.iter().all(char::is_ascii_digit) {
        return folded.to_owned();
    }
    if letters.len() >= 5 && letters.ends_with(&['a', 'u', 'x']) {
        letters.truncate(letters.len() - 3);
        letters.extend(['a', 'l']);
    } else if letters.len() >= 4 && letters.ends_with(&['s']) && !letters.ends_with(&['s', 's']) {
        letters.pop();
    }
    while letters.len() > 4 && letters.last().is_some_and(|last| "aeiouy".contains(*last)) {
        letters.pop();
    }
    letters.into_iter().collect()
}

fn stemmer(language: &str) -> Option<Stemmer> {
    STEMMERS
        .iter()
        .find(|(code, _)| *code == language)
        .map(|(_, algorithm)| Stemmer::create(*algorithm))
}

fn verbatim_term(verbatim: &str) -> String {
    format!("~{verbatim}")
}

fn exact_term(folded: &str) -> String {
    format!("={folded}")
}

fn light_term(folded: &str) -> String {
    format!("*:{}", light_stem(folded))
}

fn stem_term(language: &str, stemmer: &Stemmer, folded: &str) -> String {
    format!("{language}:{}", stemmer.stem(folded))
}

/// What ends a phrase: two words with one of these between them are not neighbours.
const PHRASE_BREAKS: &[char] = &['.', ',', ';', ':', '!', '?', '(', ')', '[', ']', '…', '\n'];

/// Whether `first` and `second`, in this order in `text`, are neighbours: nothing but spaces
/// and inner punctuation (hyphens, apostrophes, quotes) between them; no word, not even a
/// stopword ("economy and social" is no phrase), and no sentence or clause break.
pub fn are_neighbours(text: &str, first: &Token, second: &Token) -> bool {
    text.get(first.end..second.start).is_some_and(|between| {
        !between
            .chars()
            .any(|character| character.is_alphanumeric() || PHRASE_BREAKS.contains(&character))
    })
}

/// The term of two neighbouring words (folded), each as its light stem: "economía social",
/// "economia social" and "économie sociale" are all the pair `2:econom social`.
pub fn pair_term(first: &str, second: &str) -> String {
    format!("2:{} {}", light_stem(first), light_stem(second))
}

/// The terms one word of a text in `language` is indexed under.
pub struct Indexer {
    language: String,
    stemmer: Option<Stemmer>,
}

impl Indexer {
    pub fn new(language: &str) -> Indexer {
        Indexer {
            language: language.to_owned(),
            stemmer: stemmer(language),
        }
    }

    pub fn terms(&self, token: &Token) -> Vec<String> {
        let mut terms = vec![
            verbatim_term(&token.verbatim),
            exact_term(&token.folded),
            light_term(&token.folded),
        ];
        if let Some(stemmer) = &self.stemmer {
            terms.push(stem_term(&self.language, stemmer, &token.folded));
        }
        terms
    }
}

/// How often each term occurs in each field of a text, and the text's length in words, each
/// word weighted by its field.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IndexedText {
    pub counts: BTreeMap<String, FieldCounts>,
    pub weighted_length: i64,
}

impl IndexedText {
    /// Indexes the texts of each field, written in `language`. Each string is a passage of its
    /// own: its last word and the next string's first are not a pair.
    pub fn new<'a>(language: &str, fields: impl IntoIterator<Item = (Field, &'a str)>) -> IndexedText {
        let indexer = Indexer::new(language);
        let mut indexed = IndexedText::default();
        for (field, text) in fields {
            let found = tokens(text);
            for token in &found {
                indexed.weighted_length += i64::from(field.weight());
                for term in indexer.terms(token) {
                    indexed.counts.entry(term).or_default()[field.index()] += 1;
                }
            }
            for pair in found.windows(2).filter(|pair| are_neighbours(text, &pair[0], &pair[1])) {
                let term = pair_term(&pair[0].folded, &pair[1].folded);
                indexed.counts.entry(term).or_default()[field.index()] += 1;
            }
        }
        indexed
    }
}

/// One word of a query and the terms it matches, from the closest to the loosest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWord {
    pub folded: String,
    /// The word as written, accents included.
    pub verbatim: String,
    /// The folded word: the same word up to case and accents.
    pub exact: String,
    /// Its stems (cross-language, and Snowball in each language considered): the same word in
    /// another form.
    pub stems: Vec<String>,
}

impl QueryWord {
    pub fn terms(&self) -> impl Iterator<Item = &String> {
        [&self.verbatim, &self.exact].into_iter().chain(&self.stems)
    }
}

/// The words of a query, each once. With a `language`, words are stemmed in that language
/// only; without one, in every language that has a stemmer, since a text in any of them may
/// match.
pub fn query_words(query: &str, language: Option<&str>) -> Vec<QueryWord> {
    let stemmers: Vec<(&str, Stemmer)> = match language {
        Some(language) => stemmer(language)
            .map(|stemmer| (language, stemmer))
            .into_iter()
            .collect(),
        None => STEMMERS
            .iter()
            .map(|(code, algorithm)| (*code, Stemmer::create(*algorithm)))
            .collect(),
    };
    let mut words: Vec<QueryWord> = Vec::new();
    for token in tokens(query) {
        if words.iter().any(|word| word.folded == token.folded) {
            continue;
        }
        let mut stems = vec![light_term(&token.folded)];
        for (code, stemmer) in &stemmers {
            stems.push(stem_term(code, stemmer, &token.folded));
        }
        words.push(QueryWord {
            verbatim: verbatim_term(&token.verbatim),
            exact: exact_term(&token.folded),
            folded: token.folded,
            stems,
        });
    }
    words
}

/// Marks that quote a phrase: straight, curly and angle quotes.
const QUOTES: &[char] = &['"', '\u{201c}', '\u{201d}', '\u{201e}', '\u{ab}', '\u{bb}'];

/// A query: its words, the pairs of neighbouring words that make a phrase match (in the order
/// written), and the quoted phrases a text must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub words: Vec<QueryWord>,
    /// The pair terms (see [`pair_term`]) of each two neighbouring words, each once.
    pub pairs: Vec<String>,
    pub required: Vec<Phrase>,
}

/// A quoted phrase: a text matches when it holds every pair of it, or (for a phrase of one
/// word) the word in any form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phrase {
    /// Indices into [`Query::pairs`].
    Pairs(Vec<usize>),
    /// An index into [`Query::words`].
    Word(usize),
}

impl Query {
    /// Parses `query`: a quote mark opens a phrase and the next one closes it (an unclosed one
    /// runs to the end).
    pub fn parse(query: &str, language: Option<&str>) -> Query {
        let words = query_words(query, language);
        let quotes: Vec<usize> = query.match_indices(QUOTES).map(|(offset, _)| offset).collect();
        let found = tokens(query);
        // Which quoted phrase (by the number of quote marks before it) each word is in, if any.
        let phrase_of = |start: usize| {
            let before = quotes.iter().take_while(|quote| **quote < start).count();
            (before % 2 == 1).then_some(before)
        };
        let mut pairs: Vec<String> = Vec::new();
        let mut index_of = |term: String| match pairs.iter().position(|pair| *pair == term) {
            Some(index) => index,
            None => {
                pairs.push(term);
                pairs.len() - 1
            }
        };
        let mut required: Vec<Phrase> = Vec::new();
        let mut current: Option<(usize, Vec<usize>, usize)> = None;
        let close = |current: &mut Option<(usize, Vec<usize>, usize)>, required: &mut Vec<Phrase>| {
            if let Some((_, pairs, first)) = current.take() {
                required.push(if pairs.is_empty() {
                    Phrase::Word(first)
                } else {
                    Phrase::Pairs(pairs)
                });
            }
        };
        for (position, token) in found.iter().enumerate() {
            let pair = position
                .checked_sub(1)
                .filter(|previous| are_neighbours(query, &found[*previous], token))
                .map(|previous| index_of(pair_term(&found[previous].folded, &token.folded)));
            let phrase = phrase_of(token.start);
            let same_phrase = matches!((&current, phrase), (Some((open, _, _)), Some(now)) if *open == now);
            if !same_phrase {
                close(&mut current, &mut required);
                if let Some(now) = phrase {
                    let word = words
                        .iter()
                        .position(|word| word.folded == token.folded)
                        .unwrap_or_default();
                    current = Some((now, Vec::new(), word));
                }
            } else if let (Some((_, phrase_pairs, _)), Some(pair)) = (&mut current, pair) {
                phrase_pairs.push(pair);
            }
        }
        close(&mut current, &mut required);
        Query { words, pairs, required }
    }

    /// Every term the query looks up.
    pub fn terms(&self) -> impl Iterator<Item = &String> {
        self.words.iter().flat_map(QueryWord::terms).chain(&self.pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|token| token.folded).collect()
    }

    #[test]
    fn folding_removes_case_accents_and_ligatures() {
        assert_eq!(fold("Économie"), "economie");
        assert_eq!(fold("economía"), "economia");
        assert_eq!(fold("Œuvre"), "oeuvre");
        assert_eq!(fold("SOLIDÁRIA"), "solidaria");
        assert_eq!(fold("Κοινωνική"), "κοινωνικη");
    }

    #[test]
    fn tokens_split_on_punctuation_and_drop_stopwords_and_single_letters() {
        assert_eq!(
            folded("Loi n° 2014-856 relative à l'économie sociale"),
            ["loi", "2014", "856", "relative", "economie", "sociale"]
        );
        assert_eq!(
            folded("Ley 5/2011, de 29 de marzo"),
            ["ley", "5", "2011", "29", "marzo"]
        );
        let text = "l'économie";
        let token = &tokens(text)[0];
        assert_eq!(&text[token.start..token.end], "économie");
    }

    #[test]
    fn the_light_stem_joins_plurals_and_romance_word_endings() {
        let stems = |words: &[&str]| words.iter().map(|word| light_stem(&fold(word))).collect::<Vec<_>>();
        assert_eq!(
            stems(&[
                "coopératives",
                "coopérative",
                "cooperativas",
                "cooperative",
                "cooperativa"
            ]),
            ["cooperativ"; 5]
        );
        assert_eq!(
            stems(&["economía", "economia", "économie", "economy", "economies"]),
            ["econom"; 5]
        );
        assert_eq!(stems(&["sociaux", "sociales", "sociali", "social"]), ["social"; 4]);
        assert_eq!(stems(&["asociación", "asociaciones"]), ["asociacion"; 2]);
        assert_eq!(stems(&["loi", "lois", "ley", "2011"]), ["loi", "loi", "ley", "2011"]);
        assert_eq!(stems(&["business"]), ["business"]);
    }

    #[test]
    fn a_query_word_matches_the_terms_its_forms_are_indexed_under() {
        let indexed = |language: &str, word: &str| Indexer::new(language).terms(&tokens(word)[0]);
        let matches = |query: &str, language: Option<&str>, text_language: &str, word: &str| {
            let words = query_words(query, language);
            let terms = indexed(text_language, word);
            words[0].terms().any(|term| terms.contains(term))
        };
        assert!(matches("economia", None, "es", "economía"));
        assert!(matches("coopératives", Some("fr"), "fr", "coopérative"));
        assert!(matches("solidaire", None, "fr", "solidaires"));
        assert!(matches("registries", Some("en"), "en", "registry"));
        assert!(matches("empresas", Some("es"), "es", "empresa"));
        assert!(!matches("economia", None, "fr", "écologie"));
    }

    #[test]
    fn an_exact_form_is_its_own_term() {
        let words = query_words("Economía economia de", None);
        assert_eq!(words.len(), 1, "each word once, stopwords dropped");
        assert_eq!(words[0].verbatim, "~economía");
        assert_eq!(words[0].exact, "=economia");
        assert!(words[0].stems.contains(&"*:econom".to_owned()));
        assert!(words[0].stems.contains(&"es:economi".to_owned()));
        assert!(words[0].stems.contains(&"pt:econom".to_owned()));
        let spanish_only = query_words("economia", Some("es"));
        assert_eq!(spanish_only[0].stems, ["*:econom", "es:economi"]);
    }

    #[test]
    fn indexing_counts_terms_per_field_and_weighs_the_length() {
        let indexed = IndexedText::new(
            "fr",
            [(Field::Title, "Coopératives"), (Field::Summary, "coopérative et")],
        );
        assert_eq!(indexed.weighted_length, 3 + 2);
        assert_eq!(indexed.counts.get("~coopératives"), Some(&[1, 0, 0]));
        assert_eq!(indexed.counts.get("*:cooperativ"), Some(&[1, 1, 0]));
        assert_eq!(indexed.counts.get("=cooperative"), Some(&[0, 1, 0]));
        assert_eq!(indexed.counts.get("fr:cooper"), Some(&[1, 1, 0]));
    }

    #[test]
    fn neighbouring_words_of_one_passage_are_indexed_as_a_pair() {
        let indexed = IndexedText::new(
            "es",
            [
                (Field::Title, "Ley 5, de Economía Social"),
                (Field::Provisions, "economía"),
                (Field::Provisions, "social"),
            ],
        );
        assert_eq!(indexed.counts.get("2:ley econom"), None, "a stopword between");
        assert_eq!(indexed.counts.get("2:5 econom"), None, "not across a comma");
        assert_eq!(indexed.counts.get("2:ley 5"), Some(&[1, 0, 0]));
        assert_eq!(
            indexed.counts.get("2:econom social"),
            Some(&[1, 0, 0]),
            "not across passages"
        );
        assert_eq!(pair_term("economie", "sociale"), "2:econom social");
    }

    #[test]
    fn quoted_phrases_are_required_and_every_pair_counts() {
        let query = Query::parse("ley \"economía social\" cooperativas", Some("es"));
        assert_eq!(query.words.len(), 4);
        assert_eq!(query.pairs, ["2:ley econom", "2:econom social", "2:social cooperativ"]);
        assert_eq!(Query::parse("ley de economía", None).pairs, Vec::<String>::new());
        assert_eq!(query.required, [Phrase::Pairs(vec![1])]);
        let single = Query::parse("\u{ab}cooperativas\u{bb} ley", None);
        assert_eq!(single.required, [Phrase::Word(0)]);
        let unclosed = Query::parse("ley \"de economía social", None);
        assert_eq!(unclosed.required, [Phrase::Pairs(vec![0])]);
        assert!(Query::parse("economía social", None).required.is_empty());
        assert!(Query::parse("\"de la\"", None).required.is_empty());
    }
}
