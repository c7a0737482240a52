//! The `healthcheck` verb every binary has (container `HEALTHCHECK`s run it, since the images
//! carry no curl): `GET /readyz` on the service's own listening address, within 5 seconds.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The whole check, connecting included, must end within this.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// Where to reach a service listening on `addr`: a wildcard address (`0.0.0.0`, `[::]`) means
/// the loopback address of the same family.
pub fn probe_address(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// `GET /readyz` on the service listening on `addr`: `Ok` on a 200, otherwise why not.
pub fn check_ready(addr: SocketAddr) -> Result<(), String> {
    let target = probe_address(addr);
    let started = Instant::now();
    let remaining = || {
        DEADLINE
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(1))
    };
    let mut stream =
        TcpStream::connect_timeout(&target, DEADLINE).map_err(|err| format!("{target}: {err}"))?;
    stream
        .set_write_timeout(Some(remaining()))
        .map_err(|err| err.to_string())?;
    let request = format!("GET /readyz HTTP/1.1\r\nhost: {target}\r\nconnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|err| format!("{target}: {err}"))?;
    // The status line is all we need; read until it is complete or the deadline passes.
    let mut head = Vec::with_capacity(64);
    let mut chunk = [0u8; 256];
    while !head.contains(&b'\n') {
        stream
            .set_read_timeout(Some(remaining()))
            .map_err(|err| err.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(err) => return Err(format!("{target}: {err}")),
        }
        if started.elapsed() >= DEADLINE {
            return Err(format!("{target}: no answer within {DEADLINE:?}"));
        }
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or("").trim();
    match status_line.split(' ').nth(1) {
        Some("200") => Ok(()),
        _ if status_line.is_empty() => Err(format!("{target}: closed without an answer")),
        _ => Err(format!("{target}/readyz answered `{status_line}`")),
    }
}

/// Runs the check for a binary's `healthcheck` verb: prints why on failure, returns the exit code.
pub fn run(service: &str, addr: SocketAddr) -> i32 {
    match check_ready(addr) {
        Ok(()) => 0,
        Err(why) => {
            eprintln!("{service}: not ready: {why}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_are_probed_on_loopback() {
        assert_eq!(
            probe_address("0.0.0.0:8080".parse().unwrap()),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            probe_address("[::]:8081".parse().unwrap()),
            "[::1]:8081".parse().unwrap()
        );
        assert_eq!(
            probe_address("10.0.0.2:8082".parse().unwrap()),
            "10.0.0.2:8082".parse().unwrap()
        );
    }

    fn answer_once(status_line: &'static str) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = write!(stream, "{status_line}\r\ncontent-length: 0\r\n\r\n");
            }
        });
        addr
    }

    #[test]
    fn ready_only_on_200() {
        assert_eq!(check_ready(answer_once("HTTP/1.1 200 OK")), Ok(()));
        let err = check_ready(answer_once("HTTP/1.1 503 Service Unavailable")).unwrap_err();
        assert!(err.contains("503"), "{err}");
    }

    #[test]
    fn nothing_listening_is_not_ready() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(check_ready(addr).is_err());
    }
}
