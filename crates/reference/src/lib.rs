//! Reference data that every service checks codes against: the SDG framework (goals, targets and
//! indicators, in English, French and Spanish) and ISO 3166 country and subdivision codes.
//! The SDG lists are parsed once, on first use, from the YAML files shipped in `data/sdg/`.
#![forbid(unsafe_code)]

mod iso3166;
mod sdg;

pub use iso3166::{is_country_code, is_subdivision_code, place_name};
pub use sdg::{Language, SdgFramework, SdgGoal, SdgIndicator, SdgTarget, sdg};
