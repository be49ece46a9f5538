//! Times as the services keep them: microseconds since the Unix epoch in the database (the same
//! on SQLite and PostgreSQL, and exact to compare), `google.protobuf.Timestamp` on the wire.

use chrono::{DateTime, Utc};
use pbjson_types::Timestamp;

pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

pub fn timestamp(micros: i64) -> Timestamp {
    let time = DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default();
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

pub fn micros(timestamp: &Timestamp) -> i64 {
    timestamp.seconds.saturating_mul(1_000_000) + i64::from(timestamp.nanos / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip_through_timestamps() {
        let now = now_micros();
        assert_eq!(micros(&timestamp(now)), now);
    }
}
