//! Rate limits: a token bucket (GCRA, from `governor`) per key, and per client address for
//! callers without one, with the `rate_limit_per_second` and `rate_limit_burst` settings. The
//! client address of a call that came through trusted proxies (the gateway, an ingress) is the
//! one they name in `x-forwarded-for`.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use ipnet::IpNet;

/// Who a bucket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// A key, by its resource name (the admin key is `admin`).
    Key(String),
    /// A caller without a valid key, by address; `None` for a call made in process without one
    /// (the process's own work).
    Address(Option<IpAddr>),
}

/// Every caller's bucket.
pub struct RateLimits {
    limiter: DefaultKeyedRateLimiter<Bucket>,
    checks: AtomicU64,
}

/// Buckets idle long enough to be full again are dropped every this many checks, so that the
/// table does not grow with every address ever seen.
const CHECKS_BETWEEN_CLEANUPS: u64 = 10_000;

impl RateLimits {
    pub fn new(per_second: u32, burst: u32) -> RateLimits {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        RateLimits {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes a token from `bucket`; when it is empty, how long until one is back.
    pub fn check(&self, bucket: &Bucket) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % CHECKS_BETWEEN_CLEANUPS == CHECKS_BETWEEN_CLEANUPS - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(bucket)
            .map_err(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy (or the call was made
/// in this process, by the gateway), in which case the address the proxy saw, read from the
/// right of `x-forwarded-for`, past any further trusted proxies.
pub fn client_address(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |address: &Option<IpAddr>| match address {
        None => true,
        Some(address) => trusted.iter().any(|network| network.contains(address)),
    };
    let mut client = peer;
    let mut hops = forwarded_for
        .unwrap_or_default()
        .rsplit(',')
        .map(str::trim)
        .filter(|hop| !hop.is_empty());
    while is_trusted(&client) {
        let Some(hop) = hops.next() else { break };
        match hop.parse::<IpAddr>() {
            Ok(address) => client = Some(address),
            // An entry that is not an address cannot be followed further.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("network")];
        // A client naming someone else gets its own address.
        assert_eq!(
            client_address(Some(ip("203.0.113.9")), Some("198.51.100.1"), &trusted),
            Some(ip("203.0.113.9"))
        );
        // Through a trusted proxy: the address it saw, not what the client claimed before it.
        assert_eq!(
            client_address(Some(ip("10.1.2.3")), Some("198.51.100.1, 203.0.113.9"), &trusted),
            Some(ip("203.0.113.9"))
        );
        // Through two trusted proxies.
        assert_eq!(
            client_address(Some(ip("10.1.2.3")), Some("203.0.113.9, 10.9.9.9"), &trusted),
            Some(ip("203.0.113.9"))
        );
        // In process (the gateway): the address the gateway saw.
        assert_eq!(
            client_address(None, Some("203.0.113.9"), &trusted),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(client_address(None, None, &trusted), None);
    }

    #[test]
    fn a_burst_over_the_limit_is_told_when_to_retry() {
        let limits = RateLimits::new(1, 3);
        let bucket = Bucket::Address(Some(ip("203.0.113.9")));
        for _ in 0..3 {
            assert!(limits.check(&bucket).is_ok());
        }
        let wait = limits.check(&bucket).expect_err("over the burst");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limits.check(&Bucket::Key("apiKeys/other".into())).is_ok());
    }
}
