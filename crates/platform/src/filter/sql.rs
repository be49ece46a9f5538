//! Translates a parsed filter into a sea-query condition, checking each field and value against
//! what the resource declares. Errors name the position in the filter string.

use chrono::DateTime;
use sea_orm::{
    DbBackend,
    sea_query::{Condition, Expr as SqlExpr, ExprTrait, Func, LikeExpr, Query, SimpleExpr},
};

use super::parser::{CompareOp, Expr, Value};
use crate::{
    error::{ServiceError, ServiceResult},
    validate::quoted,
};

/// The longest filter accepted, in characters.
pub const MAX_FILTER_CHARS: usize = 4096;
/// The most comparisons and free-text terms one filter may hold.
pub const MAX_FILTER_TERMS: usize = 100;

fn terms(expr: &Expr) -> usize {
    match expr {
        Expr::And(items) | Expr::Or(items) => items.iter().map(terms).sum(),
        Expr::Not(inner) => terms(inner),
        Expr::Compare { .. } | Expr::Bare { .. } => 1,
    }
}

/// How a field is stored, which decides the operators and values it accepts.
#[derive(Debug, Clone, Copy)]
pub enum FieldKind {
    /// A text column: all comparisons; `:` matches a substring, ignoring case.
    Text,
    /// A text column with a substring index, so that `:` does not read every row: trigrams
    /// (pg_trgm, on `lower(column)`) on PostgreSQL; on SQLite the FTS5 trigram table
    /// `{table}_text`, keyed by the table's rowid, holding the column under its own name.
    IndexedText,
    /// An enum stored as its short name (`COOPERATIVE`); `=` and `!=` only. The filter may give
    /// the short name or the full one (`LEGAL_FORM_COOPERATIVE`).
    Enum {
        prefix: &'static str,
        values: &'static [&'static str],
    },
    /// A resource's own name, `{prefix}{id}`, over its id column, e.g. `name = "initiatives/tzcld"`.
    ResourceName { prefix: &'static str },
    /// A whole number column.
    Integer,
    /// A floating-point column.
    Number,
    /// A timestamp stored as microseconds since the epoch; values are RFC 3339.
    Timestamp,
    /// A date stored as `YYYY-MM-DD` text by [`date_column`] (`''` when unknown). Filters may
    /// give `2010`, `2010-05` or `2010-05-31`; an unknown month or day counts as the first, on
    /// both sides, so `start_date >= 2016` includes a start in "2016".
    Date,
    /// A repeated text field kept in the facet table; `:` and `=` mean "has this value".
    RepeatedText,
    /// A repeated integer field kept in the facet table, e.g. `sdg_goals:8`.
    RepeatedInteger,
}

/// One filterable field: the name in the filter, the column (or facet field) behind it.
#[derive(Debug, Clone, Copy)]
pub struct FilterField {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: FieldKind,
}

impl FilterField {
    pub const fn new(name: &'static str, column: &'static str, kind: FieldKind) -> FilterField {
        FilterField { name, column, kind }
    }

    /// A field whose column has its name.
    pub const fn named(name: &'static str, kind: FieldKind) -> FilterField {
        FilterField {
            name,
            column: name,
            kind,
        }
    }
}

/// The table that holds a resource's repeated values, one row per value.
#[derive(Debug, Clone, Copy)]
pub struct FacetTable {
    pub table: &'static str,
    /// The facet table's column that points at the resource's id.
    pub owner_column: &'static str,
    pub field_column: &'static str,
    pub value_column: &'static str,
}

/// What one resource lets a filter reach.
#[derive(Debug, Clone, Copy)]
pub struct FilterSchema {
    pub table: &'static str,
    pub id_column: &'static str,
    pub fields: &'static [FilterField],
    /// Columns a bare value (`green`) is looked for in, as a case-insensitive substring.
    pub text_columns: &'static [&'static str],
    pub facets: Option<FacetTable>,
}

/// A facet value that every match of a filter has: a term of a repeated field (`countries:"SN"`)
/// given alone or as one of the filter's top-level `AND`ed terms. On SQLite, a List in id order
/// reads such matches from the facet table's value index, which holds them in id order, rather
/// than testing every row in id order (see [`crate::pagination::KeysetPage::apply_through`]).
#[derive(Debug, Clone)]
pub struct RequiredFacet {
    pub facets: FacetTable,
    /// The facet field (the filter field's column).
    pub field: &'static str,
    pub value: String,
    /// The rest of the filter: what a row with this facet value must also satisfy.
    pub rest: Condition,
}

/// A request's filter, translated.
#[derive(Debug, Clone)]
pub struct Filter {
    /// What a row must satisfy: the whole filter.
    pub condition: Condition,
    /// On SQLite, the first facet term (in the filter's order) that every match has, if any.
    pub required_facet: Option<RequiredFacet>,
}

impl FilterSchema {
    /// The SQL condition for a request's `filter`; `None` when the filter is empty. Portable
    /// SQL: substring filters read every row (see [`FilterSchema::condition_on`]).
    pub fn condition(&self, filter: &str) -> ServiceResult<Option<Condition>> {
        self.condition_on(filter, None)
    }

    /// The condition for `filter` on `backend`: the same matches as [`FilterSchema::condition`],
    /// using the backend's substring index for [`FieldKind::IndexedText`] fields.
    pub fn condition_on(&self, filter: &str, backend: Option<DbBackend>) -> ServiceResult<Option<Condition>> {
        Ok(self.filter_on(filter, backend)?.map(|filter| filter.condition))
    }

    /// `filter` on `backend` (see [`FilterSchema::condition_on`]), with the facet value every
    /// match has, if any.
    pub fn filter_on(&self, filter: &str, backend: Option<DbBackend>) -> ServiceResult<Option<Filter>> {
        // Bounds keep one request from building a statement deep enough to exhaust the stack
        // or the database's expression limits.
        let length = filter.chars().count();
        if length > MAX_FILTER_CHARS {
            return Err(invalid_filter(format!(
                "is {length} characters long; a filter has at most {MAX_FILTER_CHARS} characters"
            )));
        }
        let expr = super::parser::parse(filter).map_err(|error| invalid_filter(error.to_string()))?;
        if let Some(expr) = &expr
            && terms(expr) > MAX_FILTER_TERMS
        {
            return Err(invalid_filter(format!(
                "a filter has at most {MAX_FILTER_TERMS} comparisons"
            )));
        }
        let sqlite_text_index = backend == Some(DbBackend::Sqlite)
            && self
                .fields
                .iter()
                .any(|field| matches!(field.kind, FieldKind::IndexedText));
        let Some(expr) = expr else {
            return Ok(None);
        };
        let terms = match &expr {
            Expr::And(items) => items.as_slice(),
            term => std::slice::from_ref(term),
        };
        let translated = terms
            .iter()
            .map(|term| self.translate(term, sqlite_text_index))
            .collect::<ServiceResult<Vec<_>>>()?;
        let all_but = |skipped: Option<usize>| {
            translated
                .iter()
                .enumerate()
                .filter(|(position, _)| Some(*position) != skipped)
                .fold(Condition::all(), |all, (_, condition)| all.add(condition.clone()))
        };
        // PostgreSQL already runs the facets' EXISTS as a merge of their value index ranges
        // (0.51 ms a page of `countries:"SN" AND sdg_goals:8`, prepared, against 0.55–0.58 ms
        // as the join); SQLite tests them row by row, in id order (0.47 ms against 0.13 ms).
        let required_facet = match backend {
            Some(DbBackend::Sqlite) => terms.iter().enumerate().find_map(|(position, term)| {
                let (field, value) = self.facet_term(term)?;
                Some(RequiredFacet {
                    facets: self.facets?,
                    field,
                    value,
                    rest: all_but(Some(position)),
                })
            }),
            _ => None,
        };
        Ok(Some(Filter {
            condition: all_but(None),
            required_facet,
        }))
    }

    /// The facet field and value a term requires (`countries:"SN"`, `sdg_goals = 8`), if it is
    /// a positive term of a repeated field. Called on a filter that translated, so its fields
    /// and values are known.
    fn facet_term(&self, term: &Expr) -> Option<(&'static str, String)> {
        let Expr::Compare {
            field,
            op: CompareOp::Has | CompareOp::Eq,
            value,
            ..
        } = term
        else {
            return None;
        };
        let spec = self.fields.iter().find(|spec| spec.name == field)?;
        Some((spec.column, facet_value(spec.kind, value.as_str())?))
    }

    fn translate(&self, expr: &Expr, sqlite_text_index: bool) -> ServiceResult<Condition> {
        Ok(match expr {
            Expr::And(items) => items.iter().try_fold(Condition::all(), |all, item| {
                Ok::<_, ServiceError>(all.add(self.translate(item, sqlite_text_index)?))
            })?,
            Expr::Or(items) => items.iter().try_fold(Condition::any(), |any, item| {
                Ok::<_, ServiceError>(any.add(self.translate(item, sqlite_text_index)?))
            })?,
            Expr::Not(inner) => self.translate(inner, sqlite_text_index)?.not(),
            Expr::Bare { value, .. } => {
                let pattern = contains_pattern(value.as_str());
                self.text_columns.iter().fold(Condition::any(), |any, column| {
                    any.add(lower(self.column(column)).like(LikeExpr::new(pattern.clone()).escape('\\')))
                })
            }
            Expr::Compare {
                field,
                op,
                value,
                position,
            } => {
                let Some(spec) = self.fields.iter().find(|spec| spec.name == field) else {
                    let known: Vec<&str> = self.fields.iter().map(|spec| spec.name).collect();
                    return Err(invalid_filter(format!(
                        "filter error at position {position}: unknown field {}; filterable fields: {}",
                        quoted(field),
                        known.join(", ")
                    )));
                };
                Condition::all().add(self.compare(spec, *op, value, *position, sqlite_text_index)?)
            }
        })
    }

    fn text_index_table(&self) -> String {
        format!("{}_text", self.table)
    }

    /// `table.rowid IN (subquery)`: rows found through the SQLite text index.
    fn in_text_index(&self, subquery: sea_orm::sea_query::SelectStatement) -> SimpleExpr {
        SqlExpr::col((self.table, "rowid")).in_subquery(subquery)
    }

    fn compare(
        &self,
        spec: &FilterField,
        op: CompareOp,
        value: &Value,
        position: usize,
        sqlite_text_index: bool,
    ) -> ServiceResult<SimpleExpr> {
        let text = value.as_str();
        let bad_value = |expected: &str| {
            invalid_filter(format!(
                "filter error at position {position}: `{}` takes {expected}, not {}",
                spec.name,
                quoted(text)
            ))
        };
        let bad_operator = |allowed: &str| {
            invalid_filter(format!(
                "filter error at position {position}: `{}` takes only {allowed}",
                spec.name
            ))
        };
        let column = self.column(spec.column);
        match spec.kind {
            FieldKind::IndexedText if op == CompareOp::Has && sqlite_text_index && text.chars().count() >= 3 => {
                Ok(self.in_text_index(
                    Query::select()
                        .expr(SqlExpr::col("rowid"))
                        .from(self.text_index_table())
                        .and_where(SqlExpr::col(spec.column).like(like_pattern(text)))
                        .to_owned(),
                ))
            }
            FieldKind::Text | FieldKind::IndexedText if op == CompareOp::Has => {
                Ok(lower(column).like(LikeExpr::new(contains_pattern(text)).escape('\\')))
            }
            FieldKind::Text | FieldKind::IndexedText => Ok(ordered(column, op, SqlExpr::val(text))),
            FieldKind::Enum { prefix, values } => {
                let short = text.strip_prefix(prefix).unwrap_or(text);
                if !values.contains(&short) {
                    return Err(bad_value(&format!("one of {}", values.join(", "))));
                }
                match op {
                    CompareOp::Eq | CompareOp::Has => Ok(column.eq(short)),
                    CompareOp::Ne => Ok(column.ne(short)),
                    _ => Err(bad_operator("`=`, `!=` and `:`")),
                }
            }
            FieldKind::ResourceName { prefix } => {
                let id = text
                    .strip_prefix(prefix)
                    .ok_or_else(|| bad_value(&format!("a name such as {prefix}…")))?;
                if op == CompareOp::Has {
                    return Err(bad_operator("comparisons (`=`, `!=`, `<`, `<=`, `>`, `>=`)"));
                }
                Ok(ordered(column, op, SqlExpr::val(id)))
            }
            FieldKind::Integer => {
                let number: i64 = text.parse().map_err(|_| bad_value("a whole number"))?;
                Ok(ordered(column, op, SqlExpr::val(number)))
            }
            FieldKind::Number => {
                let number: f64 = text
                    .parse()
                    .ok()
                    .filter(|number: &f64| number.is_finite())
                    .ok_or_else(|| bad_value("a number"))?;
                Ok(ordered(column, op, SqlExpr::val(number)))
            }
            FieldKind::Timestamp => {
                let micros = DateTime::parse_from_rfc3339(text)
                    .map_err(|_| bad_value("an RFC 3339 timestamp such as \"2024-01-31T00:00:00Z\""))?
                    .timestamp_micros();
                if op == CompareOp::Has {
                    return Err(bad_operator("comparisons (`=`, `!=`, `<`, `<=`, `>`, `>=`)"));
                }
                // An absent time (a live resource's delete_time) matches no comparison, and so
                // `NOT` of one, as for dates; SQL's NULL would make both unknown.
                Ok(column
                    .clone()
                    .is_not_null()
                    .and(ordered(column, op, SqlExpr::val(micros))))
            }
            FieldKind::Date => {
                let Some(date) = date_column(text) else {
                    return Err(bad_value("a date such as 2010, 2010-05 or 2010-05-31"));
                };
                if op == CompareOp::Has {
                    return Err(bad_operator("comparisons (`=`, `!=`, `<`, `<=`, `>`, `>=`)"));
                }
                // An unknown date is stored as '' and matches no comparison, as NULL would.
                Ok(column.clone().ne("").and(ordered(column, op, SqlExpr::val(date))))
            }
            FieldKind::RepeatedText | FieldKind::RepeatedInteger => {
                let value = facet_value(spec.kind, text).ok_or_else(|| bad_value("a whole number"))?;
                let has = self.has_facet(spec.column, &value)?;
                match op {
                    CompareOp::Has | CompareOp::Eq => Ok(has),
                    CompareOp::Ne => Ok(has.not()),
                    _ => Err(bad_operator("`:` (has), `=` and `!=`")),
                }
            }
        }
    }

    fn has_facet(&self, field: &'static str, value: &str) -> ServiceResult<SimpleExpr> {
        let facets = self
            .facets
            .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("repeated filter field without a facet table")))?;
        let subquery = Query::select()
            .expr(SqlExpr::val(1))
            .from(facets.table)
            .and_where(SqlExpr::col((facets.table, facets.owner_column)).equals((self.table, self.id_column)))
            .and_where(SqlExpr::col((facets.table, facets.field_column)).eq(field))
            .and_where(SqlExpr::col((facets.table, facets.value_column)).eq(value))
            .to_owned();
        Ok(SqlExpr::exists(subquery))
    }

    fn column(&self, column: &'static str) -> SimpleExpr {
        SqlExpr::col((self.table, column))
    }
}

/// The facet value a term of a repeated field looks for; `None` for another kind of field, or
/// for a repeated integer field's value that is no whole number. Integers are kept as their
/// canonical text, so `08` finds 8.
fn facet_value(kind: FieldKind, text: &str) -> Option<String> {
    match kind {
        FieldKind::RepeatedText => Some(text.to_owned()),
        FieldKind::RepeatedInteger => text.parse::<i64>().ok().map(|number| number.to_string()),
        _ => None,
    }
}

fn ordered(column: SimpleExpr, op: CompareOp, value: SimpleExpr) -> SimpleExpr {
    match op {
        CompareOp::Eq | CompareOp::Has => column.eq(value),
        CompareOp::Ne => column.ne(value),
        CompareOp::Lt => column.lt(value),
        CompareOp::Le => column.lte(value),
        CompareOp::Gt => column.gt(value),
        CompareOp::Ge => column.gte(value),
    }
}

fn lower(expr: SimpleExpr) -> SimpleExpr {
    Func::lower(expr).into()
}

/// A LIKE pattern matching `text` anywhere, ignoring case; an ESCAPE clause only when the text
/// holds a wildcard, as SQLite's FTS5 index serves only LIKEs without one.
fn like_pattern(text: &str) -> LikeExpr {
    let pattern = contains_pattern(text);
    if text.contains(['%', '_', '\\']) {
        LikeExpr::new(pattern).escape('\\')
    } else {
        LikeExpr::new(pattern)
    }
}

/// A LIKE pattern matching `text` anywhere, with LIKE's own wildcards escaped.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// What a [`FieldKind::Date`] column holds for a date given as `YYYY`, `YYYY-MM` or
/// `YYYY-MM-DD`: always `YYYY-MM-DD`, an unknown month or day as `01`, so that text order is
/// date order. `None` for anything else.
pub fn date_column(text: &str) -> Option<String> {
    let digits = |part: &str, len: usize| part.len() == len && part.bytes().all(|byte| byte.is_ascii_digit());
    let parts: Vec<&str> = text.split('-').collect();
    let full = match parts.as_slice() {
        [year] if digits(year, 4) => format!("{year}-01-01"),
        [year, month] if digits(year, 4) && digits(month, 2) => format!("{year}-{month}-01"),
        [year, month, day] if digits(year, 4) && digits(month, 2) && digits(day, 2) => text.to_owned(),
        _ => return None,
    };
    // A real day of the calendar: `2010-13-45` is no date.
    chrono::NaiveDate::parse_from_str(&full, "%Y-%m-%d").ok().map(|_| full)
}

/// The [`FieldKind::Date`] column value of a partial date (`''` when there is none).
pub fn partial_date_column(date: Option<&sse_proto::types::PartialDate>) -> String {
    let text = match date {
        None => return String::new(),
        Some(date) if date.month == 0 => format!("{:04}", date.year),
        Some(date) if date.day == 0 => format!("{:04}-{:02}", date.year, date.month),
        Some(date) => format!("{:04}-{:02}-{:02}", date.year, date.month, date.day),
    };
    date_column(&text).unwrap_or_default()
}

fn invalid_filter(description: String) -> ServiceError {
    ServiceError::InvalidArgument {
        reason: "INVALID_FILTER",
        message: format!("invalid filter: {description}"),
        violations: vec![crate::error::FieldViolation::new("filter", description)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: FilterSchema = FilterSchema {
        table: "t",
        id_column: "id",
        fields: &[FilterField {
            name: "n",
            column: "n",
            kind: FieldKind::Text,
        }],
        text_columns: &["n"],
        facets: None,
    };

    #[test]
    fn long_or_many_termed_filters_are_refused_before_any_sql_is_built() {
        let many = vec!["n = \"a\""; MAX_FILTER_TERMS + 1].join(" OR ");
        assert!(SCHEMA.condition(&many).is_err());
        let fine = vec!["n = \"a\""; MAX_FILTER_TERMS].join(" OR ");
        assert!(SCHEMA.condition(&fine).is_ok());
        assert!(SCHEMA.condition(&"a".repeat(MAX_FILTER_CHARS + 1)).is_err());
    }

    #[test]
    fn dates_must_exist() {
        assert_eq!(date_column("2010").as_deref(), Some("2010-01-01"));
        assert_eq!(date_column("2024-02-29").as_deref(), Some("2024-02-29"));
        assert_eq!(date_column("2010-13-45"), None);
        assert_eq!(date_column("2023-02-29"), None);
    }
}
