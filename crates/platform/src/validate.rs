//! Checks shared by every service's input: lengths, URLs, ISO codes, and the shared types of
//! `sse.type.v1`. Each check adds a violation naming the field's full path, so one response lists
//! every problem of a request, and nothing is written unless the list is empty.

use sse_proto::types::{ExternalIdentifier, LatLng, PartialDate, SourceCitation};

use crate::error::{FieldViolation, ServiceError, ServiceResult};

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
            None => violations.add(format!("names[{index}]"), format!("`{name}` is not {expected}")),
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

    /// At most `max` characters (not bytes: "chômeur" is 7).
    pub fn max_chars(&mut self, field: &str, value: &str, max: usize) {
        let count = value.chars().count();
        if count > max {
            self.add(field, format!("is {count} characters long; at most {max} are allowed"));
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
            _ => self.add(field, format!("`{value}` is not an absolute http(s) URL")),
        }
    }

    pub fn country_code(&mut self, field: &str, code: &str) {
        if !sse_reference::is_country_code(code) {
            self.add(
                field,
                format!("`{code}` is not an ISO 3166-1 alpha-2 country code (e.g. FR)"),
            );
        }
    }

    pub fn subdivision_code(&mut self, field: &str, code: &str) {
        if !sse_reference::is_subdivision_code(code) {
            self.add(
                field,
                format!("`{code}` is not an ISO 3166-2 subdivision code (e.g. CA-QC)"),
            );
        }
    }

    /// A value that appears twice in a repeated field.
    pub fn no_duplicates<T: PartialEq + std::fmt::Display>(&mut self, field: &str, values: &[T]) {
        for (index, value) in values.iter().enumerate() {
            if values[..index].contains(value) {
                self.add(format!("{field}[{index}]"), format!("`{value}` is given twice"));
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
        self.required(&format!("{field}.title"), &source.title);
        self.max_chars(&format!("{field}.title"), &source.title, 500);
        self.optional_url(&format!("{field}.url"), &source.url);
        self.max_chars(&format!("{field}.publisher"), &source.publisher, 300);
        if let Some(date) = &source.date {
            self.partial_date(&format!("{field}.date"), date);
        }
    }

    pub fn identifier(&mut self, field: &str, identifier: &ExternalIdentifier) {
        self.required(&format!("{field}.scheme"), &identifier.scheme);
        self.max_chars(&format!("{field}.scheme"), &identifier.scheme, 64);
        self.required(&format!("{field}.value"), &identifier.value);
        self.max_chars(&format!("{field}.value"), &identifier.value, 256);
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
    fn lengths_count_characters() {
        let mut violations = Violations::default();
        violations.max_chars("a", "chômeur", 7);
        violations.max_chars("b", "chômeurs", 7);
        assert_eq!(fields(&violations), ["b"]);
    }
}
