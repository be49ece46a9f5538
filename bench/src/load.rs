//! Closed-loop load: one worker per connection, each sending its next call as soon as the last
//! one answered, for a warm-up (not recorded) and then a measured window. Latencies are kept
//! whole (microseconds) so that percentiles are exact rather than bucketed.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::process;

/// How long (or how many calls) to run a measure for.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    pub warmup: Duration,
    pub duration: Duration,
    /// Stop the measured window after this many calls in all, if sooner than `duration`.
    pub requests: Option<u64>,
    /// The server's process, whose CPU time over the measured window is then reported.
    pub server_pid: Option<u32>,
}

/// What a measured window gave.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub calls: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// The CPU time the server used over the measured window, when its process is known.
    pub server_cpu: Option<Duration>,
}

impl Stats {
    /// Successful calls per second.
    pub fn rate(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.calls as f64 / seconds
        } else {
            0.0
        }
    }

    /// The server's CPU time per successful call (all its threads, user and system), in
    /// microseconds: what a call costs the machine on the server's side, whatever the load
    /// generator beside it costs.
    pub fn server_cpu_per_call(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        (self.calls > 0).then(|| cpu.as_secs_f64() * 1e6 / self.calls as f64)
    }

    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} calls in {:.2} s: {:.0} req/s, p50 {}, p99 {}, max {}",
            self.calls,
            self.elapsed.as_secs_f64(),
            self.rate(),
            millis(self.p50),
            millis(self.p99),
            millis(self.max)
        );
        if let Some(micros) = self.server_cpu_per_call() {
            line.push_str(&format!(", server CPU {micros:.0} µs a call"));
        }
        if self.errors > 0 {
            line.push_str(&format!(
                ", {} errors (first: {})",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        line
    }
}

pub fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// The `quantile` (0..=1) of sorted microsecond latencies, nearest rank.
pub fn percentile(sorted: &[u32], quantile: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    Duration::from_micros(u64::from(sorted[index]))
}

struct WorkerOutcome {
    latencies: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

/// Runs each worker (a call maker per connection) in a closed loop and merges what they saw.
pub async fn run<W, F>(spec: LoadSpec, workers: Vec<W>) -> Stats
where
    W: FnMut() -> F + Send + 'static,
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    let started = Instant::now();
    let measure_from = started + spec.warmup;
    let measure_until = measure_from + spec.duration;
    let counted = Arc::new(AtomicU64::new(0));
    let limit = spec.requests.unwrap_or(u64::MAX);
    // The server's CPU time when the measured window opens, read again when it closes.
    let cpu_at_start = spec.server_pid.map(|pid| {
        let reading = tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            process::cpu_time(pid).ok()
        });
        (pid, reading)
    });
    let mut handles = Vec::new();
    for mut worker in workers {
        let counted = Arc::clone(&counted);
        handles.push(tokio::spawn(async move {
            let mut outcome = WorkerOutcome {
                latencies: Vec::new(),
                errors: 0,
                first_error: None,
            };
            loop {
                let call_start = Instant::now();
                if call_start >= measure_until {
                    break;
                }
                let measured = call_start >= measure_from;
                if measured && counted.fetch_add(1, Ordering::Relaxed) >= limit {
                    break;
                }
                let result = worker().await;
                if !measured {
                    continue;
                }
                match result {
                    Ok(()) => {
                        let micros = call_start.elapsed().as_micros();
                        outcome.latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
                    }
                    Err(error) => {
                        outcome.errors += 1;
                        outcome.first_error.get_or_insert(error);
                    }
                }
            }
            outcome
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for handle in handles {
        match handle.await {
            Ok(outcome) => {
                latencies.extend(outcome.latencies);
                errors += outcome.errors;
                if first_error.is_none() {
                    first_error = outcome.first_error;
                }
            }
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(format!("worker failed: {error}"));
            }
        }
    }
    let finished = Instant::now();
    let server_cpu = match cpu_at_start {
        Some((pid, reading)) => match (reading.await.ok().flatten(), process::cpu_time(pid).ok()) {
            (Some(start), Some(end)) => Some(end.saturating_sub(start)),
            _ => None,
        },
        None => None,
    };
    latencies.sort_unstable();
    Stats {
        calls: latencies.len() as u64,
        errors,
        first_error,
        elapsed: finished.saturating_duration_since(measure_from),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: percentile(&latencies, 1.0),
        server_cpu,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let latencies: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&latencies, 0.50), Duration::from_micros(50));
        assert_eq!(percentile(&latencies, 0.99), Duration::from_micros(99));
        assert_eq!(percentile(&latencies, 1.0), Duration::from_micros(100));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
        assert_eq!(percentile(&[7], 0.99), Duration::from_micros(7));
    }

    #[tokio::test]
    async fn a_request_limit_stops_the_measured_window() {
        let spec = LoadSpec {
            warmup: Duration::ZERO,
            duration: Duration::from_secs(30),
            requests: Some(20),
            server_pid: None,
        };
        let workers: Vec<_> = (0..4)
            .map(|_| {
                || async {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    Ok(())
                }
            })
            .collect();
        let stats = run(spec, workers).await;
        assert_eq!(stats.calls, 20);
        assert!(stats.elapsed < Duration::from_secs(5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_servers_cpu_time_is_read_over_the_measured_window() {
        // This process stands for the server: its workers spin, so its CPU time grows. Each
        // call then yields, as a real call awaits its answer, so the reading at the window's
        // start gets its turn.
        let spec = LoadSpec {
            warmup: Duration::from_millis(20),
            duration: Duration::from_millis(300),
            requests: None,
            server_pid: Some(std::process::id()),
        };
        let workers: Vec<_> = (0..2)
            .map(|_| {
                || async {
                    let until = Instant::now() + Duration::from_millis(2);
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    tokio::task::yield_now().await;
                    Ok(())
                }
            })
            .collect();
        let stats = run(spec, workers).await;
        let cpu = stats.server_cpu.expect("the CPU time was read");
        assert!(cpu > Duration::ZERO, "{stats:?}");
        assert!(cpu <= stats.elapsed * 4, "more CPU than the window allows: {stats:?}");
        let per_call = stats.server_cpu_per_call().expect("calls succeeded");
        assert!(
            stats.summary().contains(&format!("server CPU {per_call:.0} µs a call")),
            "{}",
            stats.summary()
        );

        let unwatched = run(
            LoadSpec {
                server_pid: None,
                ..spec
            },
            vec![|| async { Ok(()) }],
        )
        .await;
        assert_eq!(unwatched.server_cpu, None);
        assert!(!unwatched.summary().contains("server CPU"));
    }
}
