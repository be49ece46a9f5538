//! The server as a process: its memory from /proc, a fresh one spawned to time its start, and
//! the Health/Check poll that says when it serves.

use std::{
    net::{SocketAddr, TcpListener},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tonic::transport::Endpoint;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// Resident memory of a process, from `/proc/<pid>/status`, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Now (VmRSS).
    pub resident: u64,
    /// The peak since the process started or since [`reset_peak`] (VmHWM).
    pub peak: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|line| line.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kilobytes: u64 = line
            .trim_start_matches(name)
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("cannot read {line:?}"))?;
        Ok(kilobytes * 1024)
    };
    Ok(Memory {
        resident: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// Resets the process's peak resident size (VmHWM) to its current size, so that the next
/// reading is the peak of what ran since. Returns whether the kernel allowed it.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The CPU time a process and all its threads have used so far (user and system), from
/// `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    cpu_time_in(&stat).with_context(|| format!("no CPU time in /proc/{pid}/stat: {stat:?}"))
}

/// utime + stime of a `/proc/<pid>/stat` line: its 14th and 15th fields, in clock ticks of 10 ms
/// (Linux's `USER_HZ` on the architectures this runs on).
fn cpu_time_in(stat: &str) -> Option<Duration> {
    // The command name, the 2nd field, is in parentheses and may hold spaces and parentheses
    // itself: the fields are counted from the last `)`.
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 10))
}

pub fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Servers started here get ports from this one up to the kernel's ephemeral range.
const LOWEST_PORT: u16 = 20_000;

/// `count` distinct loopback ports free right now (bound then released), chosen below the
/// kernel's ephemeral range where it leaves room. A port from that range (what binding port 0
/// gives) is free only until it is released: before the server binds it, any outgoing connection
/// may get it as its local end, and the server opens its database pool before it listens (the
/// end-to-end suite once saw a gateway's port taken so).
pub fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let low = ephemeral_range_start().unwrap_or(32_768);
    let mut listeners = Vec::with_capacity(count);
    if low.saturating_sub(LOWEST_PORT) >= 1000 {
        let span = u32::from(low - LOWEST_PORT);
        // Where to start looking: differs between runs, so that two harnesses do not try the
        // same ports in the same order.
        let start = std::process::id()
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|since| since.subsec_nanos())
                .unwrap_or_default();
        for offset in 0..span {
            if listeners.len() == count {
                break;
            }
            let port = LOWEST_PORT + u16::try_from((start.wrapping_add(offset)) % span).unwrap_or_default();
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
                listeners.push(listener);
            }
        }
    }
    while listeners.len() < count {
        listeners.push(TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?);
    }
    listeners
        .iter()
        .map(|listener| Ok(listener.local_addr()?.port()))
        .collect()
}

/// The first port of `/proc/sys/net/ipv4/ip_local_port_range`.
fn ephemeral_range_start() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Asks Health/Check (the whole server) once; true when it answers SERVING.
pub async fn is_serving(url: &str) -> bool {
    let Ok(endpoint) = Endpoint::from_shared(url.to_owned()) else {
        return false;
    };
    let Ok(channel) = endpoint.connect_timeout(Duration::from_millis(200)).connect().await else {
        return false;
    };
    let mut client = HealthClient::new(channel);
    let request = HealthCheckRequest { service: String::new() };
    matches!(
        client.check(request).await,
        Ok(response) if response.get_ref().status == ServingStatus::Serving as i32
    )
}

/// Polls Health/Check every few milliseconds until SERVING; returns how long it took.
pub async fn wait_until_serving(url: &str, limit: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if is_serving(url).await {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!("{url} was not SERVING after {} s", limit.as_secs())
}

/// A server this harness started; stopped with SIGTERM when dropped.
pub struct SpawnedServer {
    child: Child,
    pub grpc_url: String,
}

impl SpawnedServer {
    /// Starts `observatory serve` on the database at `database_url`, on free loopback ports.
    pub fn start(binary: &Path, database_url: &str, log: &Path) -> anyhow::Result<SpawnedServer> {
        let ports = free_ports(3)?;
        let grpc = SocketAddr::from(([127, 0, 0, 1], ports[0]));
        let http = SocketAddr::from(([127, 0, 0, 1], ports[1]));
        let log_file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env_remove("OBSERVATORY_DATABASE_URL")
            .env("OBSERVATORY_GRPC_ADDR", grpc.to_string())
            .env("OBSERVATORY_HTTP_ADDR", http.to_string())
            .env("OBSERVATORY_METRICS_ADDR", format!("127.0.0.1:{}", ports[2]))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        Ok(SpawnedServer {
            child,
            grpc_url: format!("http://{grpc}"),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then up to `grace` for a clean exit, then SIGKILL.
    pub fn stop(mut self, grace: Duration) -> anyhow::Result<()> {
        terminate(self.child.id());
        let started = Instant::now();
        while started.elapsed() < grace {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        bail!("the server did not stop within {} s of SIGTERM", grace.as_secs())
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends SIGTERM through kill(1): the harness keeps to safe Rust.
fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
        let ports = free_ports(5).expect("five free ports");
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 5, "{ports:?}");
        if let Some(low) = ephemeral_range_start().filter(|low| low.saturating_sub(LOWEST_PORT) >= 1000) {
            assert!(
                ports.iter().all(|port| (LOWEST_PORT..low).contains(port)),
                "{ports:?} against {low}"
            );
        }
        for port in ports {
            TcpListener::bind(("127.0.0.1", port)).expect("a port given out is free");
        }
    }

    #[test]
    fn cpu_time_adds_user_and_system_ticks_after_the_command_name() {
        let stat = "4242 (tokio (rt) worker) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 6 0";
        assert_eq!(cpu_time_in(stat), Some(Duration::from_millis(2870)));
        assert_eq!(cpu_time_in("4242 (cut short) S 1"), None);
    }

    #[test]
    fn cpu_time_grows_as_this_process_works() {
        let pid = std::process::id();
        let before = cpu_time(pid).expect("this process's CPU time");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut spin = 0u64;
        while cpu_time(pid).expect("this process's CPU time") <= before {
            assert!(Instant::now() < deadline, "no CPU time counted after 20 s of work");
            for _ in 0..100_000 {
                spin = std::hint::black_box(spin.wrapping_add(1));
            }
        }
    }
}
