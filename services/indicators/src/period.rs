//! ISO 8601 reporting periods as observations give them: a year (`2020`), a quarter
//! (`2023-Q2`), a month (`2023-04`), a day (`2023-04-15`), or an interval of two of those
//! (`2007/2020`). A period is kept as written, with its first and last day for filters and sorts.

use chrono::{Datelike, NaiveDate};
use sse_platform::validate::quoted;

/// A parsed period: its first and last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    /// Parses a period, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<Period, String> {
        let expected = "an ISO 8601 period: 2020, 2023-Q2, 2023-04, 2023-04-15 or an interval such as 2007/2020";
        match text.split_once('/') {
            Some((first, last)) => {
                let start = single(first)
                    .ok_or_else(|| format!("{} is not {expected}", quoted(text)))?
                    .start;
                let end = single(last)
                    .ok_or_else(|| format!("{} is not {expected}", quoted(text)))?
                    .end;
                if end < start {
                    return Err(format!("{} ends before it starts", quoted(text)));
                }
                Ok(Period { start, end })
            }
            None => single(text).ok_or_else(|| format!("{} is not {expected}", quoted(text))),
        }
    }

    /// The year a figure counts in when grouped by year: the year its period ends.
    pub fn year(&self) -> i32 {
        self.end.year()
    }
}

fn single(text: &str) -> Option<Period> {
    let digits = |part: &str, len: usize| part.len() == len && part.bytes().all(|byte| byte.is_ascii_digit());
    let parts: Vec<&str> = text.split('-').collect();
    match parts.as_slice() {
        [year] if digits(year, 4) => {
            let year = year.parse().ok()?;
            Some(Period {
                start: NaiveDate::from_ymd_opt(year, 1, 1)?,
                end: NaiveDate::from_ymd_opt(year, 12, 31)?,
            })
        }
        [year, quarter] if digits(year, 4) && quarter.len() == 2 && quarter.starts_with('Q') => {
            let year = year.parse().ok()?;
            let quarter: u32 = quarter[1..].parse().ok().filter(|quarter| (1..=4).contains(quarter))?;
            let first_month = (quarter - 1) * 3 + 1;
            Some(Period {
                start: NaiveDate::from_ymd_opt(year, first_month, 1)?,
                end: last_day(year, first_month + 2)?,
            })
        }
        [year, month] if digits(year, 4) && digits(month, 2) => {
            let (year, month) = (year.parse().ok()?, month.parse().ok()?);
            Some(Period {
                start: NaiveDate::from_ymd_opt(year, month, 1)?,
                end: last_day(year, month)?,
            })
        }
        [year, month, day] if digits(year, 4) && digits(month, 2) && digits(day, 2) => {
            let date = NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)?;
            Some(Period { start: date, end: date })
        }
        _ => None,
    }
}

fn last_day(year: i32, month: u32) -> Option<NaiveDate> {
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    NaiveDate::from_ymd_opt(next_year, next_month, 1)?.pred_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(text: &str) -> (String, String) {
        let period = Period::parse(text).expect(text);
        (period.start.to_string(), period.end.to_string())
    }

    #[test]
    fn every_form_the_contract_names_parses_to_its_first_and_last_day() {
        assert_eq!(days("2020"), ("2020-01-01".into(), "2020-12-31".into()));
        assert_eq!(days("2023-Q2"), ("2023-04-01".into(), "2023-06-30".into()));
        assert_eq!(days("2024-02"), ("2024-02-01".into(), "2024-02-29".into()));
        assert_eq!(days("2023-04-15"), ("2023-04-15".into(), "2023-04-15".into()));
        assert_eq!(days("2007/2020"), ("2007-01-01".into(), "2020-12-31".into()));
        assert_eq!(days("2016/2021-06"), ("2016-01-01".into(), "2021-06-30".into()));
        assert_eq!(Period::parse("2007/2020").map(|period| period.year()), Ok(2020));
    }

    #[test]
    fn malformed_and_backward_periods_are_refused() {
        for text in [
            "",
            "20",
            "2023-Q5",
            "2023-13",
            "2023-02-30",
            "2020/2007",
            "2020/",
            "last year",
            "2023-W05",
        ] {
            assert!(Period::parse(text).is_err(), "{text}");
        }
    }
}
