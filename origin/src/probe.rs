//! `origin probe`: the container's health check. Images carry no curl, and the origin's own
//! binary is there anyway: it asks `GET /health/ready` of the origin listening on `ORIGIN_ADDR`
//! and exits 0 only on a 200.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const PATH: &str = "/health/ready";
/// Docker's own check gives up after its `timeout`; this one must not hang past it.
const LIMIT: Duration = Duration::from_secs(2);

/// Whether the origin at `listen` (a listening address: 0.0.0.0 is asked on 127.0.0.1) answers
/// 200 to `GET /health/ready`.
pub async fn ready(listen: SocketAddr) -> Result<(), String> {
    let addr = reachable(listen);
    let ask = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let request = format!("GET {PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("{addr}: {e}"))?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.map_err(|e| format!("{addr}: {e}"))?;
        Ok::<_, String>(answer)
    };
    let answer =
        tokio::time::timeout(LIMIT, ask).await.map_err(|_| format!("no answer from {addr} within {LIMIT:?}"))??;
    let status_line = answer.split(|&byte| byte == b'\r').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line);
    match status_line.split(' ').nth(1) {
        Some("200") => Ok(()),
        _ => Err(format!("GET {PATH} on {addr}: {status_line}")),
    }
}

fn reachable(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    /// One connection on a listener of its own, answered with `status_line`.
    async fn answering(status_line: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut request = [0u8; 1024];
            let read = stream.read(&mut request).await.expect("read");
            assert!(request[..read].starts_with(b"GET /health/ready HTTP/1.1\r\n"));
            let answer = format!("{status_line}\r\ncontent-length: 0\r\n\r\n");
            stream.write_all(answer.as_bytes()).await.expect("write");
        });
        addr
    }

    #[tokio::test]
    async fn only_a_200_is_healthy() {
        assert_eq!(ready(answering("HTTP/1.1 200 OK").await).await, Ok(()));
        let unready = ready(answering("HTTP/1.1 503 Service Unavailable").await).await;
        assert!(unready.is_err_and(|why| why.contains("503")));
    }

    #[tokio::test]
    async fn nothing_listening_is_unhealthy_and_an_unspecified_address_is_asked_on_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let unspecified = SocketAddr::from(([0, 0, 0, 0], port));
        assert_eq!(reachable(unspecified), SocketAddr::from(([127, 0, 0, 1], port)));
        assert!(ready(unspecified).await.is_err_and(|why| why.contains("cannot connect to 127.0.0.1")));
    }
}
