//! The SDG reference lists as the API serves them, in the language asked for.

use sse_platform::validate::quoted;
use sse_platform::{ServiceError, ServiceResult};
use sse_proto::indicators::{SdgGoal, SdgIndicator, SdgTarget};
use sse_reference::{Language, sdg};

pub fn language(code: &str) -> ServiceResult<Language> {
    if code.is_empty() {
        return Ok(Language::English);
    }
    Language::from_code(code)
        .ok_or_else(|| ServiceError::invalid_field("language", format!("{} is not one of en, fr, es", quoted(code))))
}

pub fn goals(language: Language) -> Vec<SdgGoal> {
    sdg()
        .goals
        .iter()
        .map(|goal| SdgGoal {
            code: goal.number.to_string(),
            title: goal.title.get(language).to_owned(),
            short_title: goal.short_title.get(language).to_owned(),
        })
        .collect()
}

/// The targets, of one goal (`8`) when `goal` is set.
pub fn targets(language: Language, goal: &str) -> ServiceResult<Vec<SdgTarget>> {
    let goal_number = match goal {
        "" => None,
        code => Some(
            code.parse::<i64>()
                .ok()
                .and_then(|number| sdg().goal(number))
                .ok_or_else(|| {
                    ServiceError::invalid_field("goal", format!("{} is not an SDG; goals are 1 to 17", quoted(code)))
                })?
                .number,
        ),
    };
    Ok(sdg()
        .targets
        .iter()
        .filter(|target| goal_number.is_none_or(|number| target.goal == number))
        .map(|target| SdgTarget {
            code: target.code.clone(),
            goal: target.goal.to_string(),
            title: target.title.get(language).to_owned(),
        })
        .collect())
}

/// The indicators, of one goal (`8`) or target (`8.5`) when `parent` is set.
pub fn indicators(language: Language, parent: &str) -> ServiceResult<Vec<SdgIndicator>> {
    let known = parent.is_empty()
        || parent
            .parse::<i64>()
            .ok()
            .and_then(|number| sdg().goal(number))
            .is_some()
        || sdg().target(parent).is_some();
    if !known {
        return Err(ServiceError::invalid_field(
            "parent",
            format!("{} is neither an SDG (8) nor an SDG target (8.5)", quoted(parent)),
        ));
    }
    let prefix = format!("{parent}.");
    Ok(sdg()
        .indicators
        .iter()
        .filter(|indicator| parent.is_empty() || indicator.target == parent || indicator.target.starts_with(&prefix))
        .map(|indicator| SdgIndicator {
            code: indicator.code.clone(),
            target: indicator.target.clone(),
            title: indicator.title.get(language).to_owned(),
        })
        .collect())
}
