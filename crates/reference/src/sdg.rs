//! The Sustainable Development Goals framework: 17 goals, 169 targets and the indicator list as
//! shipped by the open-sdg project (see `data/sdg/README.md` for source and licence). Codes use
//! dots (`8`, `8.5`, `8.5.2`); the files key them with dashes (`8-5-2-title`).

use std::{collections::BTreeMap, sync::OnceLock};

/// A language the reference data has labels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    English,
    French,
    Spanish,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::English, Language::French, Language::Spanish];

    /// The ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::French => "fr",
            Language::Spanish => "es",
        }
    }

    /// Parses an ISO 639-1 code; only `en`, `fr` and `es` are known.
    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|language| language.code() == code)
    }
}

/// Labels of one item in each language that has one; English is always there.
#[derive(Debug, Clone, Default)]
pub struct Labels(BTreeMap<Language, String>);

impl Labels {
    /// The label in `language`, falling back to English where that language has none.
    pub fn get(&self, language: Language) -> &str {
        self.0
            .get(&language)
            .or_else(|| self.0.get(&Language::English))
            .map(String::as_str)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct SdgGoal {
    /// `1` to `17`.
    pub number: u8,
    pub title: Labels,
    pub short_title: Labels,
}

#[derive(Debug, Clone)]
pub struct SdgTarget {
    /// e.g. `8.5` or `8.a`.
    pub code: String,
    pub goal: u8,
    pub title: Labels,
}

#[derive(Debug, Clone)]
pub struct SdgIndicator {
    /// e.g. `8.5.2`.
    pub code: String,
    /// e.g. `8.5`.
    pub target: String,
    pub title: Labels,
}

/// The whole framework, in code order.
#[derive(Debug)]
pub struct SdgFramework {
    pub goals: Vec<SdgGoal>,
    pub targets: Vec<SdgTarget>,
    pub indicators: Vec<SdgIndicator>,
}

impl SdgFramework {
    pub fn goal(&self, number: i64) -> Option<&SdgGoal> {
        self.goals.iter().find(|goal| i64::from(goal.number) == number)
    }

    pub fn target(&self, code: &str) -> Option<&SdgTarget> {
        self.targets.iter().find(|target| target.code == code)
    }

    pub fn indicator(&self, code: &str) -> Option<&SdgIndicator> {
        self.indicators.iter().find(|indicator| indicator.code == code)
    }
}

struct LanguageFiles {
    language: Language,
    goals: &'static str,
    targets: &'static str,
    indicators: &'static str,
}

const FILES: [LanguageFiles; 3] = [
    LanguageFiles {
        language: Language::English,
        goals: include_str!("../data/sdg/en/global_goals.yml"),
        targets: include_str!("../data/sdg/en/global_targets.yml"),
        indicators: include_str!("../data/sdg/en/global_indicators.yml"),
    },
    LanguageFiles {
        language: Language::French,
        goals: include_str!("../data/sdg/fr/global_goals.yml"),
        targets: include_str!("../data/sdg/fr/global_targets.yml"),
        indicators: include_str!("../data/sdg/fr/global_indicators.yml"),
    },
    LanguageFiles {
        language: Language::Spanish,
        goals: include_str!("../data/sdg/es/global_goals.yml"),
        targets: include_str!("../data/sdg/es/global_targets.yml"),
        indicators: include_str!("../data/sdg/es/global_indicators.yml"),
    },
];

/// The SDG framework, parsed on first use from the files compiled into the binary.
pub fn sdg() -> &'static SdgFramework {
    static FRAMEWORK: OnceLock<SdgFramework> = OnceLock::new();
    FRAMEWORK.get_or_init(load)
}

/// Parses the shipped files. They are part of the build, so a parse failure is a build defect
/// that the tests below catch; a malformed entry is skipped rather than taking a service down.
fn load() -> SdgFramework {
    let mut goals: BTreeMap<(u8,), SdgGoal> = BTreeMap::new();
    let mut targets: BTreeMap<Vec<CodePart>, SdgTarget> = BTreeMap::new();
    let mut indicators: BTreeMap<Vec<CodePart>, SdgIndicator> = BTreeMap::new();

    for files in &FILES {
        let language = files.language;
        for (key, text) in entries(files.goals) {
            let Some((number, field)) = key.split_once('-') else {
                continue;
            };
            let Ok(number) = number.parse::<u8>() else { continue };
            let goal = goals.entry((number,)).or_insert_with(|| SdgGoal {
                number,
                title: Labels::default(),
                short_title: Labels::default(),
            });
            match field {
                "title" => goal.title.0.insert(language, text),
                "short" => goal.short_title.0.insert(language, text),
                _ => None,
            };
        }
        for (key, text) in entries(files.targets) {
            let Some(code) = key.strip_suffix("-title") else {
                continue;
            };
            let parts: Vec<&str> = code.split('-').collect();
            let [goal, _] = parts[..] else { continue };
            let Ok(goal) = goal.parse::<u8>() else { continue };
            let code = parts.join(".");
            targets
                .entry(sort_key(&code))
                .or_insert_with(|| SdgTarget {
                    code,
                    goal,
                    title: Labels::default(),
                })
                .title
                .0
                .insert(language, text);
        }
        for (key, text) in entries(files.indicators) {
            let Some(code) = key.strip_suffix("-title") else {
                continue;
            };
            let parts: Vec<&str> = code.split('-').collect();
            if parts.len() != 3 {
                continue;
            }
            let target = parts[..2].join(".");
            let code = parts.join(".");
            indicators
                .entry(sort_key(&code))
                .or_insert_with(|| SdgIndicator {
                    code,
                    target,
                    title: Labels::default(),
                })
                .title
                .0
                .insert(language, text);
        }
    }

    SdgFramework {
        goals: goals.into_values().collect(),
        targets: targets.into_values().collect(),
        indicators: indicators.into_values().collect(),
    }
}

/// Orders codes as people read them: `8.2` before `8.10`, numbered targets before lettered ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum CodePart {
    Number(u32),
    Letter(String),
}

fn sort_key(code: &str) -> Vec<CodePart> {
    code.split('.')
        .map(|part| match part.parse() {
            Ok(number) => CodePart::Number(number),
            Err(_) => CodePart::Letter(part.to_owned()),
        })
        .collect()
}

/// The entries of one file, their text in Unicode's composed form (NFC): the French and Spanish
/// files ship decomposed accents, which would not match text typed the usual way.
fn entries(yaml: &str) -> Vec<(String, String)> {
    use unicode_normalization::UnicodeNormalization;
    let map: BTreeMap<String, String> = serde_yaml::from_str(yaml).unwrap_or_default();
    map.into_iter()
        .map(|(key, text)| (key, text.trim().nfc().collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_17_goals_and_169_targets_in_three_languages() {
        let framework = sdg();
        assert_eq!(framework.goals.len(), 17);
        assert_eq!(framework.targets.len(), 169);
        let goal = framework.goal(8).expect("goal 8");
        assert_eq!(
            goal.short_title.get(Language::English),
            "Decent work and economic growth"
        );
        assert!(goal.title.get(Language::French).starts_with("Promouvoir"));
        assert!(!goal.title.get(Language::Spanish).is_empty());
        let poverty = framework.goal(1).expect("goal 1").short_title.get(Language::French);
        assert!(
            poverty.contains("Pas de pauvreté") || poverty.contains("pauvreté"),
            "{poverty}"
        );
        assert!(poverty.contains('é'), "composed accents: {poverty:?}");
    }

    #[test]
    fn lists_targets_and_indicators_in_reading_order() {
        let framework = sdg();
        let goal_8: Vec<&str> = framework
            .targets
            .iter()
            .filter(|target| target.goal == 8)
            .map(|target| target.code.as_str())
            .collect();
        assert_eq!(goal_8.first(), Some(&"8.1"));
        assert_eq!(goal_8.last(), Some(&"8.b"));
        assert!(framework.target("8.10").is_some());
        assert!(framework.target("8.99").is_none());
        let indicator = framework.indicator("8.5.2").expect("indicator 8.5.2");
        assert_eq!(indicator.target, "8.5");
        assert!(framework.indicators.len() >= 231);
    }
}
