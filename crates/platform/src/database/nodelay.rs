//! `TCP_NODELAY` on the connections to PostgreSQL.
//!
//! sqlx 0.9.0 opens them without it (sqlx issue #4335; the fix, #4336, is not in a release yet).
//! A statement whose message is longer than one TCP segment (over loopback, 64 KiB: a multi-row
//! INSERT of a few hundred rows) then ends with a short segment that Nagle's algorithm holds
//! until the server acknowledges the rest, and the server delays that acknowledgement by up to
//! 40 ms. Batch creates paid it on every statement: 8.9k observations a second instead of 17.6k.
//!
//! sqlx gives no access to its socket, so each new connection asks the server for the two ports
//! it sees (`inet_client_port()`, `inet_server_port()`), and the option is set on the process's
//! own socket between them, reached through a duplicate of its descriptor (`pidfd_getfd`, Linux
//! 5.6). The duplicate shares the socket, so the option holds for sqlx's descriptor too. Drop
//! this module once sqlx sets the option again.

use sea_orm::sqlx::{self, PgConnection};

/// Sets `TCP_NODELAY` on the socket of `connection`, just opened. Failing to is logged, never an
/// error: the connection works either way, only slower for large statements.
pub async fn enable(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
    let (client_port, server_port): (Option<i32>, Option<i32>) =
        sqlx::query_as("SELECT inet_client_port(), inet_server_port()")
            .fetch_one(&mut *connection)
            .await?;
    // A Unix-domain socket has no ports, and no Nagle either.
    let (Some(client_port), Some(server_port)) = (client_port, server_port) else {
        return Ok(());
    };
    match set_on_socket(client_port, server_port) {
        Ok(true) => {}
        // Through a proxy or NAT the server sees other ports than the process's socket has.
        Ok(false) => tracing::debug!(
            client_port,
            server_port,
            "no socket of this process has the ports the database sees; TCP_NODELAY not set"
        ),
        Err(error) => tracing::warn!(
            %error,
            "cannot set TCP_NODELAY on a database connection: statements over 64 KiB may wait 40 ms each"
        ),
    }
    Ok(())
}

/// Sets `TCP_NODELAY` on the TCP socket of this process from `local_port` to `peer_port`, if
/// there is one (true).
#[cfg(target_os = "linux")]
fn set_on_socket(local_port: i32, peer_port: i32) -> std::io::Result<bool> {
    use rustix::{
        net::{getpeername, getsockname, sockopt},
        process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open},
    };

    let port = |address: Option<rustix::net::SocketAddrAny>| {
        address
            .and_then(|address| std::net::SocketAddr::try_from(address).ok())
            .map(|address| i32::from(address.port()))
    };
    let this_process = pidfd_open(getpid(), PidfdFlags::empty())?;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Some(fd) = entry.file_name().to_str().and_then(|name| name.parse().ok()) else {
            continue;
        };
        // Sockets only: their link reads `socket:[inode]`.
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.as_os_str().as_encoded_bytes().starts_with(b"socket:"));
        if !is_socket {
            continue;
        }
        // Closed since it was listed (another thread's): skip it. A number reused since then
        // is a different socket, which the ports tell apart.
        let Ok(socket) = pidfd_getfd(&this_process, fd, PidfdGetfdFlags::empty()) else {
            continue;
        };
        if port(getsockname(&socket).ok()) == Some(local_port)
            && port(getpeername(&socket).ok().flatten()) == Some(peer_port)
        {
            sockopt::set_tcp_nodelay(&socket, true)?;
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(not(target_os = "linux"))]
fn set_on_socket(_local_port: i32, _peer_port: i32) -> std::io::Result<bool> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "setting it on sqlx's socket needs Linux's pidfd_getfd",
    ))
}
