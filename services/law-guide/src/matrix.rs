//! The "international guide" view: jurisdictions by topic, each cell naming the legal texts and
//! provisions that cover the topic there. A text covers a topic when it, or one of its
//! provisions, is classified under it. Everything is ordered, so the same data gives the same
//! matrix.

use std::collections::BTreeMap;

use sse_proto::lawguide::{CoveringText, JurisdictionRow, LegalText, ProvisionReference, Topic, TopicCoverage};

use sse_platform::filter::partial_date_column;

use crate::resource::covered_topics;

/// The matrix of `texts` for `topics` (the columns, in order). The rows are `jurisdictions` in
/// the order given, or, when none is given, every jurisdiction of `texts` in code order.
pub fn compare(texts: &[LegalText], topics: &[Topic], jurisdictions: &[String]) -> Vec<JurisdictionRow> {
    let mut by_jurisdiction: BTreeMap<&str, Vec<&LegalText>> = BTreeMap::new();
    for text in texts {
        by_jurisdiction.entry(&text.jurisdiction).or_default().push(text);
    }
    for texts in by_jurisdiction.values_mut() {
        texts.sort_by_key(|text| (adoption_key(text), text.name.clone()));
    }
    let rows: Vec<&str> = if jurisdictions.is_empty() {
        by_jurisdiction.keys().copied().collect()
    } else {
        jurisdictions.iter().map(String::as_str).collect()
    };
    rows.into_iter()
        .map(|jurisdiction| {
            let texts = by_jurisdiction.get(jurisdiction).map(Vec::as_slice).unwrap_or_default();
            JurisdictionRow {
                jurisdiction: jurisdiction.to_owned(),
                cells: topics.iter().map(|topic| cell(texts, *topic)).collect(),
            }
        })
        .collect()
}

fn cell(texts: &[&LegalText], topic: Topic) -> TopicCoverage {
    let covering = texts
        .iter()
        .filter(|text| covered_topics(text).contains(&topic))
        .map(|text| CoveringText {
            legal_text: text.name.clone(),
            number: text.number.clone(),
            title_en: if text.title_en.is_empty() {
                text.title.clone()
            } else {
                text.title_en.clone()
            },
            provisions: text
                .provisions
                .iter()
                .filter(|provision| provision.topics.contains(&i32::from(topic)))
                .map(|provision| ProvisionReference {
                    number: provision.number.clone(),
                    heading: provision.heading.clone(),
                })
                .collect(),
        })
        .collect();
    TopicCoverage {
        topic: topic.into(),
        legal_texts: covering,
    }
}

/// Oldest first; an unknown adoption date after every known one.
fn adoption_key(text: &LegalText) -> (bool, String) {
    let date = partial_date_column(text.adoption_date.as_ref());
    (date.is_empty(), date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sse_proto::lawguide::Provision;
    use sse_proto::types::PartialDate;

    fn text(name: &str, jurisdiction: &str, year: i32, topics: &[Topic], provisions: &[(&str, Topic)]) -> LegalText {
        LegalText {
            name: name.to_owned(),
            jurisdiction: jurisdiction.to_owned(),
            title: name.to_owned(),
            adoption_date: Some(PartialDate { year, month: 0, day: 0 }),
            topics: topics.iter().map(|topic| i32::from(*topic)).collect(),
            provisions: provisions
                .iter()
                .map(|(number, topic)| Provision {
                    number: (*number).to_owned(),
                    heading: format!("heading {number}"),
                    topics: vec![i32::from(*topic)],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn cells_name_texts_oldest_first_with_their_provisions() {
        let texts = [
            text("legalTexts/fr-b", "FR", 2020, &[], &[("art. 3", Topic::Registry)]),
            text(
                "legalTexts/fr-a",
                "FR",
                2014,
                &[Topic::Registry],
                &[("art. 1", Topic::SseDefinition)],
            ),
            text("legalTexts/es", "ES", 2011, &[Topic::SseDefinition], &[]),
        ];
        let rows = compare(&texts, &[Topic::Registry, Topic::TaxIncentives], &[]);
        let jurisdictions: Vec<&str> = rows.iter().map(|row| row.jurisdiction.as_str()).collect();
        assert_eq!(jurisdictions, ["ES", "FR"]);
        assert!(rows[0].cells.iter().all(|cell| cell.legal_texts.is_empty()));
        let registry = &rows[1].cells[0];
        let names: Vec<&str> = registry
            .legal_texts
            .iter()
            .map(|text| text.legal_text.as_str())
            .collect();
        assert_eq!(names, ["legalTexts/fr-a", "legalTexts/fr-b"]);
        assert!(registry.legal_texts[0].provisions.is_empty(), "covered as a whole");
        assert_eq!(registry.legal_texts[1].provisions[0].number, "art. 3");
        assert!(rows[1].cells[1].legal_texts.is_empty());
    }

    #[test]
    fn rows_follow_the_jurisdictions_asked_for_even_without_texts() {
        let texts = [text("legalTexts/es", "ES", 2011, &[Topic::Registry], &[])];
        let rows = compare(&texts, &[Topic::Registry], &["PT".to_owned(), "ES".to_owned()]);
        assert_eq!(rows[0].jurisdiction, "PT");
        assert!(rows[0].cells[0].legal_texts.is_empty());
        assert_eq!(rows[1].cells[0].legal_texts.len(), 1);
    }
}
