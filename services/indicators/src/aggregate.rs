//! Aggregation and progress. Two rules hold everywhere: figures of different statuses (targets,
//! reported figures, estimates…) are never combined, and where several sources give a figure for
//! the same initiative, place, period and status, one is kept — the most recently published
//! source (no date counts as oldest), then the lowest figure, then the first by name — and the
//! others are counted as set aside.

use sse_platform::validate::quoted;
use std::{
    cmp::Ordering,
    collections::{BTreeMap, HashMap},
};

use sse_platform::{ServiceResult, validate::Violations};
use sse_proto::indicators::{AggregateRow, GroupValue, indicator::Aggregation};

use crate::{entity::observation::Model as Row, initiatives::InitiativeFacts};

/// A field observations can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupField {
    RefArea,
    Year,
    Initiative,
    Status,
    LegalForm,
    SdgGoal,
}

impl GroupField {
    const ALL: [(&'static str, GroupField); 6] = [
        ("ref_area", GroupField::RefArea),
        ("year", GroupField::Year),
        ("initiative", GroupField::Initiative),
        ("status", GroupField::Status),
        ("legal_form", GroupField::LegalForm),
        ("sdg_goal", GroupField::SdgGoal),
    ];

    pub fn name(self) -> &'static str {
        GroupField::ALL
            .iter()
            .find(|(_, field)| *field == self)
            .map_or("", |(name, _)| name)
    }

    /// Whether grouping needs the initiatives' own attributes.
    pub fn needs_initiatives(self) -> bool {
        matches!(self, GroupField::LegalForm | GroupField::SdgGoal)
    }
}

/// Reads `group_by`, adding `status` when it is missing: statuses are never combined.
pub fn parse_group_by(group_by: &[String]) -> ServiceResult<Vec<GroupField>> {
    let mut violations = Violations::default();
    let mut fields = Vec::new();
    for (index, name) in group_by.iter().enumerate() {
        match GroupField::ALL.iter().find(|(known, _)| known == name) {
            Some((_, field)) if fields.contains(field) => {
                violations.add(format!("group_by[{index}]"), "is given twice")
            }
            Some((_, field)) => fields.push(*field),
            None => violations.add(
                format!("group_by[{index}]"),
                format!(
                    "{} is not a group; groups: ref_area, year, initiative, status, legal_form, sdg_goal",
                    quoted(name)
                ),
            ),
        }
    }
    violations.into_result()?;
    if !fields.contains(&GroupField::Status) {
        fields.push(GroupField::Status);
    }
    Ok(fields)
}

/// A figure that survived the source rule, with how many figures it was preferred to.
#[derive(Debug)]
pub struct Kept<'a> {
    pub row: &'a Row,
    pub set_aside: i32,
}

/// Orders the figures of one initiative, place, period and status: the first is kept.
fn preference(first: &Row, second: &Row) -> Ordering {
    second
        .source_date
        .cmp(&first.source_date)
        .then(first.value.total_cmp(&second.value))
        .then(first.name.cmp(&second.name))
}

/// Applies the source rule: one figure per initiative, place, period and status.
pub fn resolve_conflicts(rows: &[Row]) -> Vec<Kept<'_>> {
    let mut groups: BTreeMap<(&str, &str, &str, &str), Vec<&Row>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((&row.initiative, &row.ref_area, &row.time_period, &row.status))
            .or_default()
            .push(row);
    }
    groups
        .into_values()
        .filter_map(|mut figures| {
            figures.sort_by(|first, second| preference(first, second));
            let set_aside = i32::try_from(figures.len() - 1).unwrap_or(i32::MAX);
            figures.first().map(|row| Kept { row, set_aside })
        })
        .collect()
}

/// The figure a group counts as its latest (for [`Aggregation::Last`]), with what decides
/// between two of them.
#[derive(Debug, Clone, PartialEq)]
pub struct LastFigure {
    pub period_end: String,
    pub source_date: String,
    pub value: f64,
    pub name: String,
}

impl LastFigure {
    fn of(row: &Row) -> LastFigure {
        LastFigure {
            period_end: row.period_end.clone(),
            source_date: row.source_date.clone(),
            value: row.value,
            name: row.name.clone(),
        }
    }

    /// Whether `self` comes after `other`: a later period end, then the source rule.
    fn is_later_than(&self, other: &LastFigure) -> bool {
        self.period_end
            .cmp(&other.period_end)
            .then(self.source_date.cmp(&other.source_date))
            .then(other.value.total_cmp(&self.value))
            .then(other.name.cmp(&self.name))
            .is_gt()
    }
}

/// Kept figures summed up by the values of some fields (what the database returns, or one
/// figure of the in-memory path), before they are combined into the groups asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureGroup {
    /// The values of the grouping columns ([`sql_group_fields`]), in order.
    pub keys: Vec<String>,
    pub sum: f64,
    pub count: i64,
    pub max: f64,
    /// The latest figure, when the rule needs it.
    pub last: Option<LastFigure>,
    /// How many figures the kept ones were preferred to.
    pub set_aside: i64,
}

/// The fields the database groups by for `group_by`: the initiative stands for its legal form
/// and goals, which the initiatives service knows.
pub fn sql_group_fields(group_by: &[GroupField]) -> Vec<GroupField> {
    let mut fields = Vec::with_capacity(group_by.len());
    for field in group_by {
        let stored = if field.needs_initiatives() {
            GroupField::Initiative
        } else {
            *field
        };
        if !fields.contains(&stored) {
            fields.push(stored);
        }
    }
    fields
}

#[derive(Default)]
struct Accumulator {
    sum: f64,
    count: i64,
    max: Option<f64>,
    last: Option<LastFigure>,
    set_aside: i64,
}

impl Accumulator {
    fn add(&mut self, group: &FigureGroup) {
        self.sum += group.sum;
        self.count += group.count;
        self.max = Some(self.max.map_or(group.max, |max| max.max(group.max)));
        if let Some(candidate) = &group.last
            && self.last.as_ref().is_none_or(|last| candidate.is_later_than(last))
        {
            self.last = Some(candidate.clone());
        }
        self.set_aside += group.set_aside;
    }

    fn value(&self, rule: Aggregation) -> f64 {
        match rule {
            Aggregation::Mean if self.count > 0 => self.sum / self.count as f64,
            Aggregation::Max => self.max.unwrap_or_default(),
            Aggregation::Last => self.last.as_ref().map_or(0.0, |figure| figure.value),
            _ => self.sum,
        }
    }
}

/// Folds groups of kept figures (grouped by `sql_group_fields(group_by)`) into the groups asked
/// for, one at a time: a group is added and dropped, so however many the database returns
/// (one per initiative and status when grouping by legal form), only the rows asked for are
/// held.
pub struct Combiner<'a> {
    group_by: &'a [GroupField],
    /// For each field of `group_by` that the database groups by, its position in the keys.
    positions: Vec<Option<usize>>,
    initiative_position: Option<usize>,
    combined: BTreeMap<Vec<String>, Accumulator>,
    total_set_aside: i64,
}

impl<'a> Combiner<'a> {
    pub fn new(group_by: &'a [GroupField]) -> Combiner<'a> {
        let stored = sql_group_fields(group_by);
        let position = |wanted: GroupField| stored.iter().position(|field| *field == wanted);
        Combiner {
            group_by,
            positions: group_by.iter().map(|field| position(*field)).collect(),
            initiative_position: position(GroupField::Initiative),
            combined: BTreeMap::new(),
            total_set_aside: 0,
        }
    }

    /// Adds `group`; `facts` are the initiatives' attributes when `group_by` needs them.
    pub fn add(&mut self, group: &FigureGroup, facts: &HashMap<String, InitiativeFacts>) {
        self.total_set_aside += group.set_aside;
        let initiative = self
            .initiative_position
            .and_then(|index| group.keys.get(index))
            .and_then(|name| facts.get(name));
        // The group's keys: one, unless goals are asked for and the initiative has several.
        let mut keys = vec![Vec::with_capacity(self.group_by.len())];
        for (field, position) in self.group_by.iter().zip(&self.positions) {
            let value = match field {
                GroupField::SdgGoal => {
                    let goals: Vec<String> = match initiative {
                        Some(facts) if !facts.sdg_goals.is_empty() => {
                            facts.sdg_goals.iter().map(|goal| goal.to_string()).collect()
                        }
                        _ => vec![String::new()],
                    };
                    keys = keys
                        .into_iter()
                        .flat_map(|key| {
                            goals.iter().map(move |goal| {
                                let mut extended = key.clone();
                                extended.push(goal.clone());
                                extended
                            })
                        })
                        .collect();
                    continue;
                }
                GroupField::LegalForm => initiative.map(|facts| facts.legal_form).unwrap_or_default().to_owned(),
                _ => position
                    .and_then(|index| group.keys.get(index))
                    .cloned()
                    .unwrap_or_default(),
            };
            // One value, appended to every key (the last one takes it, the others a copy).
            if let Some((last, others)) = keys.split_last_mut() {
                for key in others {
                    key.push(value.clone());
                }
                last.push(value);
            }
        }
        for key in keys {
            self.combined.entry(key).or_default().add(group);
        }
    }

    /// The rows of AggregateObservations, ordered by group values, and the total set aside.
    pub fn finish(self, rule: Aggregation) -> (Vec<AggregateRow>, i32) {
        let group_by = self.group_by;
        let rows = self
            .combined
            .into_iter()
            .map(|(key, accumulator)| AggregateRow {
                group: group_by
                    .iter()
                    .zip(key)
                    .map(|(field, value)| GroupValue {
                        field: field.name().to_owned(),
                        value,
                    })
                    .collect(),
                value: accumulator.value(rule),
                count: saturating_i32(accumulator.count),
                set_aside_count: saturating_i32(accumulator.set_aside),
            })
            .collect();
        (rows, saturating_i32(self.total_set_aside))
    }
}

/// The rows of AggregateObservations from `groups` (grouped by `sql_group_fields(group_by)`),
/// ordered by group values, and the total set aside. `facts` are the initiatives' attributes
/// when `group_by` needs them.
pub fn combine(
    groups: impl IntoIterator<Item = FigureGroup>,
    group_by: &[GroupField],
    rule: Aggregation,
    facts: &HashMap<String, InitiativeFacts>,
) -> (Vec<AggregateRow>, i32) {
    let mut combiner = Combiner::new(group_by);
    for group in groups {
        combiner.add(&group, facts);
    }
    combiner.finish(rule)
}

fn saturating_i32(count: i64) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// Aggregation in memory, over `rows` already read: the reference the database path is
/// checked against, in the same terms ([`combine`]).
pub fn aggregate(
    rows: &[Row],
    rule: Aggregation,
    group_by: &[GroupField],
    facts: &HashMap<String, InitiativeFacts>,
) -> (Vec<AggregateRow>, i32) {
    let stored = sql_group_fields(group_by);
    let groups = resolve_conflicts(rows).into_iter().map(|kept| FigureGroup {
        keys: stored
            .iter()
            .map(|field| match field {
                GroupField::RefArea => kept.row.ref_area.clone(),
                GroupField::Year => kept.row.year.to_string(),
                GroupField::Status => kept.row.status.clone(),
                _ => kept.row.initiative.clone(),
            })
            .collect(),
        sum: kept.row.value,
        count: 1,
        max: kept.row.value,
        last: Some(LastFigure::of(kept.row)),
        set_aside: i64::from(kept.set_aside),
    });
    combine(groups, group_by, rule, facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, initiative: &str, area: &str, period: &str, status: &str, value: f64, source_date: &str) -> Row {
        let year = period
            .rsplit('/')
            .next()
            .and_then(|last| last.get(..4))
            .and_then(|year| year.parse().ok())
            .unwrap_or(0);
        Row {
            name: name.to_owned(),
            indicator: "indicators/x".to_owned(),
            initiative: initiative.to_owned(),
            ref_area: area.to_owned(),
            time_period: period.to_owned(),
            period_start: String::new(),
            period_end: format!("{year}-12-31"),
            year,
            value,
            status: status.to_owned(),
            source_title: String::new(),
            source_publisher: String::new(),
            source_url: String::new(),
            source_date: source_date.to_owned(),
            create_time: 0,
            update_time: 0,
            delete_time: None,
            etag: String::new(),
            resource: String::new(),
        }
    }

    fn facts(legal_form: &'static str, goals: &[i32]) -> InitiativeFacts {
        InitiativeFacts {
            legal_form,
            sdg_goals: goals.iter().copied().collect(),
            deleted: false,
        }
    }

    #[test]
    fn the_most_recent_source_wins_then_the_lowest_figure() {
        let rows = [
            row("a", "initiatives/ggw", "", "2007/2020", "REPORTED", 18e6, ""),
            row("b", "initiatives/ggw", "", "2007/2020", "REPORTED", 20e6, "2020-11-03"),
            row("c", "initiatives/ggw", "", "2030", "TARGET", 100e6, "2020-01-01"),
        ];
        let kept = resolve_conflicts(&rows);
        let reported: Vec<(&str, i32)> = kept
            .iter()
            .filter(|figure| figure.row.status == "REPORTED")
            .map(|figure| (figure.row.name.as_str(), figure.set_aside))
            .collect();
        assert_eq!(reported, [("b", 1)]);
        let undated = [
            row("a", "i", "", "2020", "REPORTED", 5.0, ""),
            row("b", "i", "", "2020", "REPORTED", 3.0, ""),
        ];
        assert_eq!(resolve_conflicts(&undated)[0].row.name, "b");
    }

    #[test]
    fn targets_and_reported_figures_are_never_summed_together() {
        let rows = [
            row("a", "initiatives/a", "FR", "2020", "REPORTED", 10.0, ""),
            row("b", "initiatives/b", "FR", "2020", "REPORTED", 5.0, ""),
            row("c", "initiatives/a", "FR", "2020", "TARGET", 100.0, ""),
        ];
        let groups = parse_group_by(&["ref_area".to_owned()]).expect("groups");
        let (rows, set_aside) = aggregate(&rows, Aggregation::Sum, &groups, &HashMap::new());
        let values: Vec<(String, f64, i32)> = rows
            .iter()
            .map(|row| (row.group[1].value.clone(), row.value, row.count))
            .collect();
        assert_eq!(
            values,
            [("REPORTED".to_owned(), 15.0, 2), ("TARGET".to_owned(), 100.0, 1)]
        );
        assert_eq!(set_aside, 0);
    }

    #[test]
    fn grouping_by_sdg_goal_counts_a_figure_under_each_goal_of_its_initiative() {
        let rows = [
            row("a", "initiatives/a", "FR", "2020", "REPORTED", 10.0, ""),
            row("b", "initiatives/b", "FR", "2020", "REPORTED", 5.0, ""),
        ];
        let facts = HashMap::from([
            ("initiatives/a".to_owned(), facts("COOPERATIVE", &[8, 9])),
            ("initiatives/b".to_owned(), facts("MUTUAL", &[8])),
        ]);
        let groups = parse_group_by(&["sdg_goal".to_owned()]).expect("groups");
        let (rows, _) = aggregate(&rows, Aggregation::Sum, &groups, &facts);
        let values: Vec<(String, f64)> = rows.iter().map(|row| (row.group[0].value.clone(), row.value)).collect();
        assert_eq!(values, [("8".to_owned(), 15.0), ("9".to_owned(), 10.0)]);
    }

    #[test]
    fn each_rule_combines_figures_its_own_way() {
        let rows = [
            row("a", "initiatives/a", "FR", "2019", "REPORTED", 10.0, ""),
            row("b", "initiatives/a", "FR", "2021", "REPORTED", 30.0, ""),
            row("c", "initiatives/a", "FR", "2020", "REPORTED", 20.0, ""),
        ];
        let groups = parse_group_by(&[]).expect("groups");
        let value = |rule| aggregate(&rows, rule, &groups, &HashMap::new()).0[0].value;
        assert_eq!(value(Aggregation::Sum), 60.0);
        assert_eq!(value(Aggregation::Mean), 20.0);
        assert_eq!(value(Aggregation::Max), 30.0);
        assert_eq!(value(Aggregation::Last), 30.0);
    }

    #[test]
    fn unknown_and_repeated_groups_are_refused() {
        assert!(parse_group_by(&["colour".to_owned()]).is_err());
        assert!(parse_group_by(&["year".to_owned(), "year".to_owned()]).is_err());
        assert_eq!(
            parse_group_by(&["year".to_owned()]).expect("groups"),
            [GroupField::Year, GroupField::Status]
        );
    }
}
