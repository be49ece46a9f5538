//! Reference data that every service checks codes against: the SDG framework (goals, targets and
//! indicators, in English, French and Spanish), ISO 3166 country and subdivision codes, ISO 639-1
//! language codes, and the organisations whose acts the law guide records.
//! The SDG lists are parsed once, on first use, from the YAML files shipped in `data/sdg/`.
#![forbid(unsafe_code)]

mod iso3166;
mod iso639;
mod organisations;
mod sdg;

pub use iso639::{ISO_639_1, is_language_code};
pub use iso3166::{country_codes, is_country_code, is_subdivision_code, place_name, subdivision_codes};
pub use organisations::{ORGANISATIONS, OrganisationLevel};
pub use sdg::{Language, SdgFramework, SdgGoal, SdgIndicator, SdgTarget, sdg};
