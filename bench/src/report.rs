//! The final table: one row per goal, each figure next to the baseline it is compared with (a
//! figure of the same run), their ratio, the goal and whether it is met.

use std::fmt::Write as _;

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub measure: String,
    pub goal: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Measured {
        value: String,
        baseline: String,
        /// The ratio as printed, e.g. `0.62×`.
        ratio: String,
        meets: bool,
    },
    NotMeasured(String),
}

impl Row {
    pub fn measured(
        measure: impl Into<String>,
        value: impl Into<String>,
        baseline: impl Into<String>,
        ratio: f64,
        goal: impl Into<String>,
        meets: bool,
    ) -> Row {
        Row {
            measure: measure.into(),
            goal: goal.into(),
            outcome: Outcome::Measured {
                value: value.into(),
                baseline: baseline.into(),
                ratio: format!("{ratio:.2}×"),
                meets,
            },
        }
    }

    pub fn not_measured(measure: impl Into<String>, goal: impl Into<String>, why: impl Into<String>) -> Row {
        Row {
            measure: measure.into(),
            goal: goal.into(),
            outcome: Outcome::NotMeasured(why.into()),
        }
    }
}

/// The table as Markdown, so that it can be pasted into BENCHMARKS.md as it is.
pub fn table(title: &str, rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {title}\n");
    let _ = writeln!(
        out,
        "| measure | value | baseline (same run) | ratio | goal | meets goal |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for row in rows {
        match &row.outcome {
            Outcome::Measured {
                value,
                baseline,
                ratio,
                meets,
            } => {
                let verdict = if *meets { "yes" } else { "**no**" };
                let _ = writeln!(
                    out,
                    "| {} | {value} | {baseline} | {ratio} | {} | {verdict} |",
                    row.measure, row.goal
                );
            }
            Outcome::NotMeasured(why) => {
                let _ = writeln!(out, "| {} | not measured: {why} | | | {} | – |", row.measure, row.goal);
            }
        }
    }
    let measured = rows
        .iter()
        .filter(|row| matches!(row.outcome, Outcome::Measured { .. }))
        .count();
    let met = rows
        .iter()
        .filter(|row| matches!(row.outcome, Outcome::Measured { meets: true, .. }))
        .count();
    let _ = writeln!(
        out,
        "\n{met} of {measured} measured goals met; {} not measured.",
        rows.len() - measured
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_ratios_verdicts_and_what_was_not_measured() {
        let rows = vec![
            Row::measured(
                "GetInitiative req/s",
                "9000 req/s",
                "Health/Check 12000 req/s",
                0.75,
                "≥ 0.50×",
                true,
            ),
            Row::measured("REST GET", "3000 req/s", "gRPC 9000 req/s", 0.333, "≥ 0.70×", false),
            Row::not_measured("Search p99", "≤ 25 ms", "no generated legal texts"),
        ];
        let text = table("SQLite", &rows);
        assert!(
            text.contains("| GetInitiative req/s | 9000 req/s | Health/Check 12000 req/s | 0.75× | ≥ 0.50× | yes |")
        );
        assert!(text.contains("| 0.33× | ≥ 0.70× | **no** |"));
        assert!(text.contains("not measured: no generated legal texts"));
        assert!(text.contains("1 of 2 measured goals met; 1 not measured."));
    }
}
