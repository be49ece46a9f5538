//! Synthetic data at realistic scale, for demos, capacity planning and the benchmarks:
//! `observatory generate --initiatives N --observations M --legal-texts K --seed S`. Every service
//! writes its own part through its own store code; what two services must agree on (an
//! initiative's id, country, legal form and goals) is derived here from the seed and the index
//! alone, so the indicators service can name generated initiatives without reading them.

use std::time::Instant;

/// How much to generate, and from which seed (the same seed gives the same data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateSpec {
    pub initiatives: u64,
    pub observations: u64,
    pub legal_texts: u64,
    pub seed: u64,
}

/// Countries where the social and solidarity economy is most documented come first and are
/// drawn most often (see [`Random::skewed`]); the tail spreads over every other continent.
pub const COUNTRIES: &[&str] = &[
    "FR", "SN", "ES", "CA", "BR", "IT", "BE", "MX", "CO", "AR", "PT", "DE", "MA", "TN", "BF", "ML", "NE", "TD", "CM",
    "CI", "KE", "ZA", "IN", "PH", "KR", "JP", "US", "GB", "IE", "UY", "CL", "PE", "EC", "BO", "CR", "GT", "NI", "HN",
    "SV", "DO", "CU", "HT", "MR", "DZ", "EG", "ET", "NG", "GH", "BJ", "TG", "GN", "RW", "UG", "TZ", "MZ", "MG", "VN",
    "TH", "ID", "MY", "NP", "BD", "LK", "PK", "TR", "GR", "PL", "RO", "HU", "CZ", "SE", "FI", "NO", "DK", "NL", "LU",
    "CH", "AT", "SI", "HR", "AU", "NZ", "QA", "JO", "LB",
];

/// Legal forms by their short names, as the initiatives service stores them, most frequent first.
pub const LEGAL_FORMS: &[&str] = &[
    "ASSOCIATION",
    "COOPERATIVE",
    "SOCIAL_ENTERPRISE",
    "MUTUAL",
    "FOUNDATION",
    "NETWORK",
    "INFORMAL_GROUP",
    "PUBLIC_PROGRAMME",
    "OTHER",
];

/// The id of the `index`-th generated initiative (from 0): `generated-0004242`.
pub fn initiative_id(index: u64) -> String {
    format!("generated-{index:07}")
}

/// What every service knows of a generated initiative, from the seed and its index alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiativeProfile {
    pub id: String,
    /// The first country is where it is based; some work across borders.
    pub countries: Vec<&'static str>,
    /// A short name from [`LEGAL_FORMS`].
    pub legal_form: &'static str,
    /// One to three goals, ascending; 8 (decent work) is the most frequent.
    pub sdg_goals: Vec<i32>,
}

/// The profile of the `index`-th generated initiative.
pub fn initiative_profile(seed: u64, index: u64) -> InitiativeProfile {
    let mut random = Random::new(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15), "initiative");
    let mut countries = vec![*random.skewed(COUNTRIES)];
    if random.chance(0.1) {
        let other = *random.skewed(COUNTRIES);
        if !countries.contains(&other) {
            countries.push(other);
        }
    }
    let legal_form = *random.skewed(LEGAL_FORMS);
    let goal_count = 1 + random.below(3);
    let mut sdg_goals = Vec::new();
    for _ in 0..goal_count {
        // Decent work (8) most often, then the goals the SSE is most reported under.
        let goal = *random.skewed(&[8, 5, 1, 10, 12, 13, 2, 11, 15, 4, 3, 6, 7, 9, 14, 16, 17]);
        if !sdg_goals.contains(&goal) {
            sdg_goals.push(goal);
        }
    }
    sdg_goals.sort_unstable();
    InitiativeProfile {
        id: initiative_id(index),
        countries,
        legal_form,
        sdg_goals,
    }
}

/// A small deterministic generator (SplitMix64): the same seed and stream give the same
/// numbers on every machine and every release, which a general-purpose RNG does not promise.
#[derive(Debug, Clone)]
pub struct Random {
    state: u64,
}

impl Random {
    /// A generator for one `stream` (one kind of record) of the run seeded with `seed`.
    pub fn new(seed: u64, stream: &str) -> Random {
        let stream_hash = stream.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3)
        });
        let mut random = Random {
            state: seed ^ stream_hash,
        };
        random.next_u64();
        random
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for synthetic data, and never a division by zero.
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// Any item, each as likely.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An item, the first ones far more often than the last (about as real catalogues are:
    /// a few countries and forms hold most records, and every one appears).
    pub fn skewed<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let position = self.unit().powi(3) * items.len() as f64;
        &items[(position as usize).min(items.len() - 1)]
    }
}

/// Progress of one kind of record on standard error: a bar on a terminal, a line every few
/// seconds otherwise (CI logs), and the rate at the end.
pub struct Progress {
    bar: indicatif::ProgressBar,
    started: Instant,
    label: &'static str,
}

impl Progress {
    pub fn new(label: &'static str, total: u64) -> Progress {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(label);
        Progress {
            bar,
            started: Instant::now(),
            label,
        }
    }

    pub fn advance(&self, count: u64) {
        self.bar.inc(count);
    }

    /// Ends the bar and reports how many were written, and how fast.
    pub fn finish(self) {
        self.bar.finish_and_clear();
        let written = self.bar.position();
        let seconds = self.started.elapsed().as_secs_f64();
        eprintln!(
            "{:>14}: {written} written in {seconds:.1} s ({:.0}/s)",
            self.label,
            written as f64 / seconds.max(1e-9)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_profiles_and_another_seed_others() {
        let first: Vec<_> = (0..100).map(|index| initiative_profile(7, index)).collect();
        let again: Vec<_> = (0..100).map(|index| initiative_profile(7, index)).collect();
        let other: Vec<_> = (0..100).map(|index| initiative_profile(8, index)).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert_eq!(first[42].id, "generated-0000042");
    }

    #[test]
    fn skewed_draws_favour_the_first_items_and_reach_the_last() {
        let mut random = Random::new(1, "test");
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[*random.skewed(&[0usize, 1, 2, 3, 4, 5, 6, 7, 8, 9])] += 1;
        }
        assert!(counts[0] > counts[9] * 3, "{counts:?}");
        assert!(counts.iter().all(|&count| count > 0), "{counts:?}");
    }
}
