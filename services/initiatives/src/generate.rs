//! Synthetic initiatives for `observatory generate`: the `index`-th one has the id, countries,
//! legal form and goals of `sse_platform::generate::initiative_profile`, so the other services
//! can refer to it; the rest (names, descriptions, dates, sources) is drawn from the same seed.
//! They are written in batches through the store, as BatchCreateInitiatives writes.

use sse_platform::generate::{GenerateSpec, Progress, Random, initiative_profile};
use sse_proto::initiatives::{Initiative, initiative::LegalForm, initiative::Status};
use sse_proto::types::{PartialDate, SourceCitation};

use crate::store::{NewInitiative, Store};

/// Initiatives per write, as a partner's BatchCreateInitiatives would send them.
const BATCH: u64 = 1000;

const ACTIVITIES: &[&str] = &[
    "organic farming",
    "reforestation",
    "recycling and repair",
    "microfinance",
    "community health",
    "renewable energy",
    "fair trade",
    "social housing",
    "work integration",
    "local food distribution",
    "childcare",
    "water management",
    "digital commons",
    "cultural heritage",
    "sustainable fishing",
    "eldercare",
];

const PUBLISHERS: &[&str] = &[
    "National SSE registry",
    "International Labour Organization",
    "UN Task Force on Social and Solidarity Economy",
    "Regional chamber of the social economy",
    "Cooperatives Europe",
];

/// Writes `spec.initiatives` initiatives; returns how many were created.
pub async fn generate(store: &Store, spec: &GenerateSpec) -> anyhow::Result<usize> {
    let progress = Progress::new("initiatives", spec.initiatives);
    let mut start = 0;
    while start < spec.initiatives {
        let end = (start + BATCH).min(spec.initiatives);
        let items = (start..end)
            .map(|index| NewInitiative {
                id: Some(initiative_profile(spec.seed, index).id),
                initiative: initiative(spec.seed, index),
                request_id: String::new(),
            })
            .collect();
        store.create_all(items, "").await?;
        progress.advance(end - start);
        start = end;
    }
    progress.finish();
    Ok(spec.initiatives as usize)
}

/// The `index`-th generated initiative (without its name and times, which the store sets).
pub fn initiative(seed: u64, index: u64) -> Initiative {
    let profile = initiative_profile(seed, index);
    let mut random = Random::new(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03), "initiative details");
    let legal_form =
        LegalForm::from_str_name(&format!("LEGAL_FORM_{}", profile.legal_form)).unwrap_or(LegalForm::Other);
    let kind = match legal_form {
        LegalForm::Cooperative => "Cooperative",
        LegalForm::Mutual => "Mutual",
        LegalForm::Association => "Association",
        LegalForm::Foundation => "Foundation",
        LegalForm::SocialEnterprise => "Social enterprise",
        LegalForm::PublicProgramme => "Programme",
        LegalForm::Network => "Network",
        LegalForm::InformalGroup => "Collective",
        LegalForm::Other | LegalForm::Unspecified => "Initiative",
    };
    let activity = *random.skewed(ACTIVITIES);
    let country = profile.countries.first().copied().unwrap_or("FR");
    let start_year = 1950 + random.below(76) as i32;
    let status = if start_year > 2024 && random.chance(0.5) {
        Status::Planned
    } else if random.chance(0.1) {
        Status::Ended
    } else {
        Status::Active
    };
    let mut sdg_targets = Vec::new();
    for goal in &profile.sdg_goals {
        if random.chance(0.5) {
            sdg_targets.push(format!("{goal}.{}", 1 + random.below(3)));
        }
    }
    let year = |year: i32| PartialDate { year, month: 0, day: 0 };
    let publisher = *random.pick(PUBLISHERS);
    Initiative {
        display_name: format!("{kind} {index}"),
        description: format!(
            "A {} working in {activity} in {country} since {start_year}, generated for demonstrations \
             and capacity planning.",
            kind.to_lowercase()
        ),
        legal_form: legal_form.into(),
        status: status.into(),
        countries: profile.countries.iter().map(|code| (*code).to_owned()).collect(),
        sdg_goals: profile.sdg_goals,
        sdg_targets,
        start_date: Some(PartialDate {
            year: start_year,
            month: 1 + random.below(12) as i32,
            day: 0,
        }),
        sources: vec![SourceCitation {
            title: format!("{publisher}: annual survey {}", 2015 + random.below(11)),
            url: format!("https://example.org/sse-survey/{index}"),
            publisher: publisher.to_owned(),
            date: Some(year(2015 + random.below(11) as i32)),
        }],
        ..Initiative::default()
    }
}

#[cfg(test)]
mod tests {
    use sse_platform::validate::Violations;

    use super::*;
    use crate::validation::check_initiative;

    #[test]
    fn generated_initiatives_are_valid_and_the_same_for_the_same_seed() {
        for index in 0..500 {
            let generated = initiative(3, index);
            let mut violations = Violations::default();
            check_initiative(&mut violations, "initiative", &generated);
            assert!(violations.into_result().is_ok(), "initiative {index}: {generated:?}");
            assert_eq!(generated, initiative(3, index));
        }
        assert_ne!(initiative(3, 1), initiative(4, 1));
    }
}
