//! The one AIP-160 (<https://google.aip.dev/160>) filter parser that every List RPC reuses, so
//! all services accept the same `filter` syntax and report the same errors. It only builds an
//! AST; mapping fields to SQL is left to each caller.

use std::fmt;

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// `field op value`, e.g. `sdg_goals:8`, `display_name = "x"`, `create_time > "2024-01-01T00:00:00Z"`.
    Compare {
        field: String,
        op: CompareOp,
        value: Value,
        position: usize,
    },
    /// A lone value, e.g. `green` or `"zéro chômeur"`: a free-text match.
    Bare {
        value: Value,
        position: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Has,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A quoted string, with escapes resolved.
    Quoted(String),
    /// An unquoted word: a number (`8`, `-3`, `2.5`), an enum name (`COOPERATIVE`), `true`, `*`, a dotted name.
    Word(String),
}

impl Expr {
    /// Whether a comparison anywhere in this expression (under `AND`, `OR` or `NOT`) is on
    /// `field`.
    #[must_use]
    pub fn compares(&self, field: &str) -> bool {
        match self {
            Expr::And(items) | Expr::Or(items) => items.iter().any(|item| item.compares(field)),
            Expr::Not(inner) => inner.compares(field),
            Expr::Compare { field: compared, .. } => compared == field,
            Expr::Bare { .. } => false,
        }
    }
}

impl Value {
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Value::Quoted(s) | Value::Word(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "filter error at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for FilterError {}

/// Parses a filter. Empty or all-whitespace input returns Ok(None).
///
/// # Errors
///
/// Returns a [`FilterError`] locating the first token that does not fit the grammar.
pub fn parse(input: &str) -> Result<Option<Expr>, FilterError> {
    // Positions are reported in characters, not bytes, so that they match what the user typed
    // even when the filter contains accented text.
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = tokenize(&chars)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    // Reversed so that `pop` hands out owned tokens in input order without cloning.
    tokens.reverse();
    let mut parser = Parser {
        tokens,
        char_count: chars.len(),
        depth: 0,
    };
    let expr = parser.parse_expression(None)?;
    match parser.tokens.pop() {
        None => Ok(Some(expr)),
        Some(token) => Err(error_at(token.start, format!("unexpected {}", describe(&token.kind)))),
    }
}

/// Filters come from untrusted callers; without a bound, a long run of `(` would overflow the
/// stack of the recursive descent.
const MAX_NESTING: usize = 64;

#[derive(Debug, PartialEq)]
enum TokenKind {
    LParen,
    RParen,
    Op(CompareOp),
    /// A `-` that is not the start of a number: a negation, or the start of a word argument.
    Minus,
    And,
    Or,
    Not,
    Word(String),
    Quoted(String),
}

#[derive(Debug)]
struct Token {
    kind: TokenKind,
    /// 0-based char index of the first char.
    start: usize,
    /// 0-based char index just past the last char; lets the parser tell `-a` from `- a`.
    end: usize,
}

fn error_at(index: usize, message: impl Into<String>) -> FilterError {
    FilterError {
        position: index + 1,
        message: message.into(),
    }
}

fn symbol(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "!=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Has => ":",
    }
}

/// A word as an error message shows it: cut, so that a long filter is not echoed whole.
fn shown(word: &str) -> String {
    const SHOWN_CHARS: usize = 40;
    if word.chars().count() <= SHOWN_CHARS {
        return word.to_owned();
    }
    let mut cut: String = word.chars().take(SHOWN_CHARS).collect();
    cut.push('…');
    cut
}

/// A character no filter may hold (see [`crate::validate::forbidden_char`]): in a value, it
/// would reach the database, which PostgreSQL refuses for NUL and SQLite would match as is.
fn control_character(index: usize, c: char) -> FilterError {
    error_at(
        index,
        format!(
            "control character U+{:04X} is not allowed; only tab and newline are",
            u32::from(c)
        ),
    )
}

fn is_forbidden(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n')
}

fn describe(kind: &TokenKind) -> String {
    match kind {
        TokenKind::LParen => "'('".to_owned(),
        TokenKind::RParen => "')'".to_owned(),
        TokenKind::Op(op) => format!("'{}'", symbol(*op)),
        TokenKind::Minus => "'-'".to_owned(),
        TokenKind::And => "'AND'".to_owned(),
        TokenKind::Or => "'OR'".to_owned(),
        TokenKind::Not => "'NOT'".to_owned(),
        TokenKind::Word(word) => format!("'{}'", shown(word)),
        TokenKind::Quoted(_) => "a quoted string".to_owned(),
    }
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | '"' | '\'' | '=' | '!' | '<' | '>' | ':')
}

fn tokenize(chars: &[char]) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        let next_is_eq = chars.get(i + 1) == Some(&'=');
        let kind = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            c if is_forbidden(c) => return Err(control_character(i, c)),
            '(' => {
                i += 1;
                TokenKind::LParen
            }
            ')' => {
                i += 1;
                TokenKind::RParen
            }
            '"' | '\'' => {
                let (text, next) = lex_string(chars, start, c)?;
                i = next;
                TokenKind::Quoted(text)
            }
            '=' | ':' => {
                i += 1;
                TokenKind::Op(if c == '=' { CompareOp::Eq } else { CompareOp::Has })
            }
            '<' | '>' => {
                i += if next_is_eq { 2 } else { 1 };
                TokenKind::Op(match (c, next_is_eq) {
                    ('<', false) => CompareOp::Lt,
                    ('<', true) => CompareOp::Le,
                    (_, false) => CompareOp::Gt,
                    (_, true) => CompareOp::Ge,
                })
            }
            '!' => {
                if !next_is_eq {
                    return Err(error_at(start, "expected '=' after '!'"));
                }
                i += 2;
                TokenKind::Op(CompareOp::Ne)
            }
            // `-3` must stay a number, while `-status` negates the term that follows.
            '-' if !chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                i += 1;
                TokenKind::Minus
            }
            _ => {
                while let Some(&c) = chars.get(i).filter(|&&c| is_word_char(c)) {
                    if is_forbidden(c) {
                        return Err(control_character(i, c));
                    }
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                // Keywords are upper case only, so `and`/`or`/`not` stay searchable words.
                match word.as_str() {
                    "AND" => TokenKind::And,
                    "OR" => TokenKind::Or,
                    "NOT" => TokenKind::Not,
                    _ => TokenKind::Word(word),
                }
            }
        };
        tokens.push(Token { kind, start, end: i });
    }
    Ok(tokens)
}

/// Returns the unescaped text and the index just past the closing quote.
fn lex_string(chars: &[char], open: usize, quote: char) -> Result<(String, usize), FilterError> {
    let mut text = String::new();
    let mut i = open + 1;
    loop {
        match chars.get(i) {
            None => return Err(error_at(open, "unclosed string")),
            Some(&c) if c == quote => return Ok((text, i + 1)),
            Some(&c) if is_forbidden(c) => return Err(control_character(i, c)),
            Some('\\') => {
                let unescaped = match chars.get(i + 1) {
                    None => return Err(error_at(open, "unclosed string")),
                    Some('"') => '"',
                    Some('\'') => '\'',
                    Some('\\') => '\\',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    // Rejected rather than kept verbatim so that adding escapes later cannot
                    // silently change the meaning of existing filters.
                    Some(other) => {
                        return Err(error_at(
                            i,
                            format!(
                                "unsupported escape '\\{other}', expected one of \
                                 \\\" \\' \\\\ \\n \\t"
                            ),
                        ));
                    }
                };
                text.push(unescaped);
                i += 2;
            }
            Some(&c) => {
                text.push(c);
                i += 1;
            }
        }
    }
}

/// A field is a dotted path of identifiers, e.g. `address.country_code`.
fn is_field_name(word: &str) -> bool {
    word.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && word
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

fn and_of(items: Vec<Expr>) -> Expr {
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::And(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    match <[Expr; 1]>::try_from(flat) {
        Ok([only]) => only,
        Err(flat) => Expr::And(flat),
    }
}

fn or_of(items: Vec<Expr>) -> Expr {
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::Or(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    match <[Expr; 1]>::try_from(flat) {
        Ok([only]) => only,
        Err(flat) => Expr::Or(flat),
    }
}

struct Parser {
    /// Remaining tokens, last one first.
    tokens: Vec<Token>,
    char_count: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.last()
    }

    fn peek_op(&self) -> Option<CompareOp> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Op(op),
                ..
            }) => Some(*op),
            _ => None,
        }
    }

    /// 0-based char index of the next token, or of the end of input.
    fn here(&self) -> usize {
        self.peek().map_or(self.char_count, |token| token.start)
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        let found = self.peek().is_some_and(|token| token.kind == *kind);
        if found {
            self.tokens.pop();
        }
        found
    }

    fn starts_term(&self) -> bool {
        matches!(
            self.peek().map(|token| &token.kind),
            Some(TokenKind::LParen | TokenKind::Minus | TokenKind::Not | TokenKind::Word(_) | TokenKind::Quoted(_))
        )
    }

    /// `after` names what precedes the expression, for the error when it is missing; `None`
    /// means the start of the filter.
    fn parse_expression(&mut self, after: Option<&str>) -> Result<Expr, FilterError> {
        let mut items = vec![self.parse_sequence(after)?];
        while self.eat(&TokenKind::And) {
            items.push(self.parse_sequence(Some("AND"))?);
        }
        Ok(and_of(items))
    }

    fn parse_sequence(&mut self, after: Option<&str>) -> Result<Expr, FilterError> {
        let mut items = vec![self.parse_factor(after)?];
        while self.starts_term() {
            items.push(self.parse_factor(None)?);
        }
        Ok(and_of(items))
    }

    fn parse_factor(&mut self, after: Option<&str>) -> Result<Expr, FilterError> {
        let mut items = vec![self.parse_term(after)?];
        while self.eat(&TokenKind::Or) {
            items.push(self.parse_term(Some("OR"))?);
        }
        Ok(or_of(items))
    }

    fn parse_term(&mut self, after: Option<&str>) -> Result<Expr, FilterError> {
        if self.eat(&TokenKind::Not) {
            return Ok(Expr::Not(Box::new(self.parse_simple(Some("NOT"))?)));
        }
        if let Some(Token {
            kind: TokenKind::Minus,
            end,
            ..
        }) = self.peek()
        {
            let end = *end;
            self.tokens.pop();
            // AIP-160 only treats `-` as negation when it touches its term.
            if self.peek().is_none_or(|token| token.start != end) {
                return Err(error_at(end, "expected an expression immediately after '-'"));
            }
            return Ok(Expr::Not(Box::new(self.parse_simple(Some("-"))?)));
        }
        self.parse_simple(after)
    }

    fn parse_simple(&mut self, after: Option<&str>) -> Result<Expr, FilterError> {
        let Some(token) = self.tokens.pop() else {
            return Err(missing_expression(after, None, self.char_count));
        };
        match token.kind {
            TokenKind::LParen => self.parse_group(token.start),
            TokenKind::Word(word) => match self.peek_op() {
                Some(op) => self.parse_comparison(word, token.start, op),
                None => Ok(Expr::Bare {
                    value: Value::Word(word),
                    position: token.start + 1,
                }),
            },
            TokenKind::Quoted(text) => match self.peek_op() {
                Some(op) => Err(error_at(
                    token.start,
                    format!("expected a field name before '{}', found a quoted string", symbol(op)),
                )),
                None => Ok(Expr::Bare {
                    value: Value::Quoted(text),
                    position: token.start + 1,
                }),
            },
            TokenKind::Op(op) => Err(error_at(
                token.start,
                format!("expected a field before '{}'", symbol(op)),
            )),
            other => Err(missing_expression(after, Some(&other), token.start)),
        }
    }

    fn parse_group(&mut self, open: usize) -> Result<Expr, FilterError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(error_at(
                open,
                format!("expected at most {MAX_NESTING} levels of nested parentheses"),
            ));
        }
        let expr = self.parse_expression(Some("("))?;
        if !self.eat(&TokenKind::RParen) {
            return Err(error_at(self.here(), "expected ')'"));
        }
        self.depth -= 1;
        Ok(expr)
    }

    fn parse_comparison(&mut self, field: String, start: usize, op: CompareOp) -> Result<Expr, FilterError> {
        if !is_field_name(&field) {
            return Err(error_at(
                start,
                format!(
                    "expected a field name (letters, digits and '_', separated by '.') before \
                     '{}', found '{}'",
                    symbol(op),
                    shown(&field)
                ),
            ));
        }
        self.tokens.pop();
        let missing_value = |index| error_at(index, format!("expected a value after '{}'", symbol(op)));
        let here = self.here();
        let value = match self.tokens.pop() {
            Some(Token {
                kind: TokenKind::Quoted(text),
                ..
            }) => Value::Quoted(text),
            Some(Token {
                kind: TokenKind::Word(word),
                ..
            }) => Value::Word(word),
            // The tokenizer splits `-foo` into a negation and a word; as an argument it is
            // one word.
            Some(Token {
                kind: TokenKind::Minus,
                end,
                ..
            }) => match self.tokens.pop() {
                Some(Token {
                    kind: TokenKind::Word(word),
                    start,
                    ..
                }) if start == end => Value::Word(format!("-{word}")),
                _ => return Err(missing_value(here)),
            },
            _ => return Err(missing_value(here)),
        };
        Ok(Expr::Compare {
            field,
            op,
            value,
            position: start + 1,
        })
    }
}

fn missing_expression(after: Option<&str>, found: Option<&TokenKind>, index: usize) -> FilterError {
    let message = match (after, found) {
        (Some(after), _) => format!("expected an expression after '{after}'"),
        (None, Some(found)) => format!("unexpected {}", describe(found)),
        (None, None) => "expected an expression".to_owned(),
    };
    error_at(index, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(input: &str) -> Expr {
        parse(input)
            .expect("filter should parse")
            .expect("filter should not be empty")
    }

    fn parse_err(input: &str) -> FilterError {
        parse(input).expect_err("filter should be rejected")
    }

    fn assert_error(input: &str, position: usize, message: &str) {
        assert_eq!(
            parse_err(input),
            FilterError {
                position,
                message: message.to_owned()
            },
            "input: {input:?}"
        );
    }

    fn word(s: &str) -> Value {
        Value::Word(s.to_owned())
    }

    fn quoted(s: &str) -> Value {
        Value::Quoted(s.to_owned())
    }

    #[test]
    fn compares_finds_a_field_under_and_or_and_not() {
        for filter in [
            "initiative = \"initiatives/x\"",
            "year > 2020 AND initiative:\"guilde\"",
            "ref_area = \"SN\" OR (year = 2020 AND NOT initiative = \"initiatives/x\")",
        ] {
            assert!(parse_ok(filter).compares("initiative"), "{filter}");
        }
        for filter in ["initiatives", "ref_area = \"initiative\"", "source.title = \"x\""] {
            assert!(!parse_ok(filter).compares("initiative"), "{filter}");
        }
    }

    fn cmp(field: &str, op: CompareOp, value: Value, position: usize) -> Expr {
        Expr::Compare {
            field: field.to_owned(),
            op,
            value,
            position,
        }
    }

    fn bare(s: &str, position: usize) -> Expr {
        Expr::Bare {
            value: word(s),
            position,
        }
    }

    #[test]
    fn empty_and_whitespace_input_means_no_filter() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("  \t\n "), Ok(None));
    }

    #[test]
    fn has_with_quoted_country() {
        assert_eq!(
            parse_ok(r#"countries:"FR""#),
            cmp("countries", CompareOp::Has, quoted("FR"), 1)
        );
    }

    #[test]
    fn has_number_and_equals_enum_joined_by_and() {
        assert_eq!(
            parse_ok("sdg_goals:8 AND legal_form = COOPERATIVE"),
            Expr::And(vec![
                cmp("sdg_goals", CompareOp::Has, word("8"), 1),
                cmp("legal_form", CompareOp::Eq, word("COOPERATIVE"), 17),
            ])
        );
    }

    #[test]
    fn has_with_quoted_display_name() {
        assert_eq!(
            parse_ok(r#"display_name:"green""#),
            cmp("display_name", CompareOp::Has, quoted("green"), 1)
        );
    }

    #[test]
    fn or_binds_tighter_than_and() {
        assert_eq!(
            parse_ok("a AND b OR c"),
            Expr::And(vec![bare("a", 1), Expr::Or(vec![bare("b", 7), bare("c", 12)])])
        );
        assert_eq!(
            parse_ok("a OR b AND c"),
            Expr::And(vec![Expr::Or(vec![bare("a", 1), bare("b", 6)]), bare("c", 12)])
        );
    }

    #[test]
    fn juxtaposition_means_and() {
        assert_eq!(parse_ok("a b"), Expr::And(vec![bare("a", 1), bare("b", 3)]));
    }

    #[test]
    fn juxtaposition_binds_looser_than_or() {
        assert_eq!(
            parse_ok("a OR b c"),
            Expr::And(vec![Expr::Or(vec![bare("a", 1), bare("b", 6)]), bare("c", 8)])
        );
    }

    #[test]
    fn not_keyword_negates_a_comparison() {
        assert_eq!(
            parse_ok("NOT status = ENDED"),
            Expr::Not(Box::new(cmp("status", CompareOp::Eq, word("ENDED"), 5)))
        );
    }

    #[test]
    fn minus_negates_a_comparison() {
        assert_eq!(
            parse_ok("-status = ENDED"),
            Expr::Not(Box::new(cmp("status", CompareOp::Eq, word("ENDED"), 2)))
        );
    }

    #[test]
    fn not_and_minus_negate_groups_and_bare_values() {
        assert_eq!(
            parse_ok("NOT(a OR b)"),
            Expr::Not(Box::new(Expr::Or(vec![bare("a", 5), bare("b", 10)])))
        );
        assert_eq!(
            parse_ok("-(a OR b)"),
            Expr::Not(Box::new(Expr::Or(vec![bare("a", 3), bare("b", 8)])))
        );
        assert_eq!(
            parse_ok(r#"-"x""#),
            Expr::Not(Box::new(Expr::Bare {
                value: quoted("x"),
                position: 2
            }))
        );
    }

    #[test]
    fn negative_numbers_are_values_not_negations() {
        assert_eq!(parse_ok("a = -3"), cmp("a", CompareOp::Eq, word("-3"), 1));
        assert_eq!(parse_ok("a>-2.5"), cmp("a", CompareOp::Gt, word("-2.5"), 1));
        assert_eq!(parse_ok("-3"), bare("-3", 1));
    }

    #[test]
    fn word_argument_may_start_with_minus() {
        assert_eq!(parse_ok("a = -foo"), cmp("a", CompareOp::Eq, word("-foo"), 1));
    }

    #[test]
    fn parenthesized_or_juxtaposed_with_comparison() {
        assert_eq!(
            parse_ok("(a = 1 OR b = 2) c:3"),
            Expr::And(vec![
                Expr::Or(vec![
                    cmp("a", CompareOp::Eq, word("1"), 2),
                    cmp("b", CompareOp::Eq, word("2"), 11),
                ]),
                cmp("c", CompareOp::Has, word("3"), 18),
            ])
        );
    }

    #[test]
    fn timestamp_comparison_with_quoted_value() {
        assert_eq!(
            parse_ok(r#"create_time >= "2024-01-01T00:00:00Z""#),
            cmp("create_time", CompareOp::Ge, quoted("2024-01-01T00:00:00Z"), 1)
        );
    }

    #[test]
    fn bare_word_is_free_text() {
        assert_eq!(parse_ok("green"), bare("green", 1));
    }

    #[test]
    fn bare_quoted_unicode_is_free_text() {
        assert_eq!(
            parse_ok(r#""zéro chômeur""#),
            Expr::Bare {
                value: quoted("zéro chômeur"),
                position: 1
            }
        );
    }

    #[test]
    fn less_than_number() {
        assert_eq!(
            parse_ok("start_date < 2010"),
            cmp("start_date", CompareOp::Lt, word("2010"), 1)
        );
    }

    #[test]
    fn unquoted_date_with_dashes_is_one_word() {
        assert_eq!(
            parse_ok("start_date >= 2010-01-01"),
            cmp("start_date", CompareOp::Ge, word("2010-01-01"), 1)
        );
    }

    #[test]
    fn every_operator_with_and_without_spaces() {
        let cases = [
            ("=", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<", CompareOp::Lt),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            (">=", CompareOp::Ge),
            (":", CompareOp::Has),
        ];
        for (symbol, op) in cases {
            assert_eq!(parse_ok(&format!("a {symbol} 1")), cmp("a", op, word("1"), 1));
            assert_eq!(parse_ok(&format!("a{symbol}1")), cmp("a", op, word("1"), 1));
        }
    }

    #[test]
    fn unicode_value_keeps_char_positions() {
        assert_eq!(
            parse_ok(r#"display_name:"zéro chômeur" b:1"#),
            Expr::And(vec![
                cmp("display_name", CompareOp::Has, quoted("zéro chômeur"), 1),
                cmp("b", CompareOp::Has, word("1"), 29),
            ])
        );
    }

    #[test]
    fn unicode_error_position_counts_chars_not_bytes() {
        assert_error(r#"nom:"é" AND"#, 12, "expected an expression after 'AND'");
    }

    #[test]
    fn unicode_bare_word() {
        assert_eq!(parse_ok("coopérative"), bare("coopérative", 1));
    }

    #[test]
    fn dotted_field_name() {
        assert_eq!(
            parse_ok(r#"address.country_code = "FR""#),
            cmp("address.country_code", CompareOp::Eq, quoted("FR"), 1)
        );
    }

    #[test]
    fn wildcard_and_dotted_values_are_words() {
        assert_eq!(parse_ok("a:*"), cmp("a", CompareOp::Has, word("*"), 1));
        assert_eq!(parse_ok("name = gre*"), cmp("name", CompareOp::Eq, word("gre*"), 1));
        assert_eq!(parse_ok("a = b.c"), cmp("a", CompareOp::Eq, word("b.c"), 1));
        assert_eq!(parse_ok("a = true"), cmp("a", CompareOp::Eq, word("true"), 1));
    }

    #[test]
    fn escapes_are_resolved_in_both_quote_styles() {
        assert_eq!(
            parse_ok(r#"a = "say \"hi\" \\ \n\t it's""#),
            cmp("a", CompareOp::Eq, quoted("say \"hi\" \\ \n\t it's"), 1)
        );
        assert_eq!(
            parse_ok(r#"a = 'it\'s "fine"'"#),
            cmp("a", CompareOp::Eq, quoted("it's \"fine\""), 1)
        );
    }

    #[test]
    fn nested_and_or_are_flattened() {
        assert_eq!(
            parse_ok("a AND (b AND c)"),
            Expr::And(vec![bare("a", 1), bare("b", 8), bare("c", 14)])
        );
        assert_eq!(
            parse_ok("(a OR b) OR c"),
            Expr::Or(vec![bare("a", 2), bare("b", 7), bare("c", 13)])
        );
        assert_eq!(parse_ok("((a))"), bare("a", 3));
    }

    #[test]
    fn lowercase_keywords_are_plain_words() {
        assert_eq!(
            parse_ok("a and b"),
            Expr::And(vec![bare("a", 1), bare("and", 3), bare("b", 7)])
        );
        assert_eq!(parse_ok("not"), bare("not", 1));
    }

    #[test]
    fn words_containing_keywords_are_not_keywords() {
        assert_eq!(parse_ok("ANDROID"), bare("ANDROID", 1));
        assert_eq!(parse_ok("NOTE:1"), cmp("NOTE", CompareOp::Has, word("1"), 1));
    }

    #[test]
    fn missing_value_is_reported_at_end_of_input() {
        assert_error("countries:", 11, "expected a value after ':'");
        assert_error("a = ", 5, "expected a value after '='");
    }

    #[test]
    fn keyword_where_value_expected_is_rejected() {
        assert_error("a = AND", 5, "expected a value after '='");
        assert_error("a = (b)", 5, "expected a value after '='");
        assert_error("a = - b", 5, "expected a value after '='");
    }

    #[test]
    fn unclosed_string_is_reported_at_its_opening_quote() {
        assert_error(r#"a = "unclosed"#, 5, "unclosed string");
        assert_error(r"a = 'x\'", 5, "unclosed string");
        assert_error(r#"a = "x\"#, 5, "unclosed string");
    }

    #[test]
    fn unsupported_escape_is_rejected() {
        assert_error(
            r#"a = "C:\path""#,
            8,
            r#"unsupported escape '\p', expected one of \" \' \\ \n \t"#,
        );
    }

    #[test]
    fn missing_closing_parenthesis() {
        assert_error("(a = 1", 7, "expected ')'");
        assert_error("(a = 1 = 2)", 8, "expected ')'");
    }

    #[test]
    fn unbalanced_closing_parenthesis() {
        assert_error("a = 1)", 6, "unexpected ')'");
        assert_error(") a", 1, "unexpected ')'");
    }

    #[test]
    fn empty_parentheses_are_rejected() {
        assert_error("()", 2, "expected an expression after '('");
        assert_error("a AND ( )", 9, "expected an expression after '('");
    }

    #[test]
    fn operator_without_field_is_rejected() {
        assert_error("= 3", 1, "expected a field before '='");
        assert_error("a AND : 3", 7, "expected a field before ':'");
    }

    #[test]
    fn quoted_string_cannot_be_a_field() {
        assert_error(
            r#""a" = 1"#,
            1,
            "expected a field name before '=', found a quoted string",
        );
    }

    #[test]
    fn invalid_field_names_are_rejected() {
        let message = |field: &str| {
            format!(
                "expected a field name (letters, digits and '_', separated by '.') before '=', \
                 found '{field}'"
            )
        };
        assert_error("a.b. = 1", 1, &message("a.b."));
        assert_error("x 1a = 1", 3, &message("1a"));
        assert_error("a*b = 1", 1, &message("a*b"));
        assert_error("-3 = 1", 1, &message("-3"));
    }

    #[test]
    fn dangling_keywords_are_rejected() {
        assert_error("a AND", 6, "expected an expression after 'AND'");
        assert_error("a OR", 5, "expected an expression after 'OR'");
        assert_error("NOT", 4, "expected an expression after 'NOT'");
        assert_error("a OR OR b", 6, "expected an expression after 'OR'");
        assert_error("NOT NOT a", 5, "expected an expression after 'NOT'");
        assert_error("AND a", 1, "unexpected 'AND'");
        assert_error("OR a", 1, "unexpected 'OR'");
    }

    #[test]
    fn detached_minus_is_rejected() {
        assert_error("- a", 2, "expected an expression immediately after '-'");
        assert_error("a -", 4, "expected an expression immediately after '-'");
    }

    #[test]
    fn trailing_operator_is_rejected() {
        assert_error("a = 1 = 2", 7, "unexpected '='");
    }

    #[test]
    fn lone_bang_is_rejected() {
        assert_error("a ! b", 3, "expected '=' after '!'");
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflowing_the_stack() {
        let depth = 100_000;
        let input = format!("{}a{}", "(".repeat(depth), ")".repeat(depth));
        assert_error(
            &input,
            MAX_NESTING + 1,
            "expected at most 64 levels of nested parentheses",
        );
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let input = format!("{}a{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert_eq!(parse_ok(&input), bare("a", MAX_NESTING + 1));
        let siblings = "(a) ".repeat(MAX_NESTING * 2);
        assert!(matches!(parse_ok(&siblings), Expr::And(items) if items.len() == MAX_NESTING * 2));
    }

    #[test]
    fn control_characters_are_refused_where_they_stand() {
        assert_error(
            "a = \"x\0y\"",
            7,
            "control character U+0000 is not allowed; only tab and newline are",
        );
        assert_error(
            "a = x\u{1b}",
            6,
            "control character U+001B is not allowed; only tab and newline are",
        );
        assert_error(
            "\0",
            1,
            "control character U+0000 is not allowed; only tab and newline are",
        );
        assert_error(
            "a = \"\r\"",
            6,
            "control character U+000D is not allowed; only tab and newline are",
        );
        assert_eq!(
            parse_ok("a = \"x\ty\"\r\nb"),
            Expr::And(vec![cmp("a", CompareOp::Eq, quoted("x\ty"), 1), bare("b", 12)])
        );
    }

    #[test]
    fn long_words_are_cut_in_messages() {
        let error = parse_err(&format!("{} = 1", "x*".repeat(2000)));
        assert!(error.message.len() < 200, "{}", error.message);
    }

    #[test]
    fn error_display_and_error_trait() {
        let error = parse_err("countries:");
        assert_eq!(
            error.to_string(),
            "filter error at position 11: expected a value after ':'"
        );
        let as_std: &dyn std::error::Error = &error;
        assert!(as_std.source().is_none());
    }

    #[test]
    fn value_as_str_returns_the_text() {
        assert_eq!(quoted("zéro").as_str(), "zéro");
        assert_eq!(word("COOPERATIVE").as_str(), "COOPERATIVE");
    }
}
