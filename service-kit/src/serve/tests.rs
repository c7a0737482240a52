//! The accept loop over real sockets, spoken to in raw HTTP/1.1 so every byte is visible.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};

use super::{serve, ServeOptions};

/// A deadline for things that must happen; generous, since only a hang should trip it.
const DEADLINE: Duration = Duration::from_secs(10);

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(router: Router, options: ServeOptions) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(serve(listener, router, options, async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        served,
    }
}

impl Running {
    fn shut_down(&mut self) {
        let _ = self.stop.take().unwrap().send(());
    }
}

async fn send_get(stream: &mut TcpStream, path: &str) {
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
}

/// Reads one response whose body is at most a few bytes and sent with a content-length.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(DEADLINE, async {
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if n == 0 || complete(&text) {
                return;
            }
        }
    })
    .await
    .expect("a response within the deadline");
    String::from_utf8(buf).unwrap()
}

fn complete(text: &str) -> bool {
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    body.len() >= length
}

/// True once the server has closed its end (read returns 0 or the connection is reset).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 64];
    matches!(
        tokio::time::timeout(DEADLINE, stream.read(&mut chunk)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn handlers_see_the_client_address() {
    let router = Router::new().route(
        "/",
        get(|ConnectInfo(addr): ConnectInfo<SocketAddr>| async move { addr.to_string() }),
    );
    let running = start(router, ServeOptions::default()).await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    let client = stream.local_addr().unwrap();
    send_get(&mut stream, "/").await;
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(&client.to_string()), "{response}");
    assert!(stream.nodelay().is_ok());
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_and_refuses_new_connections() {
    let entered = std::sync::Arc::new(Notify::new());
    let (release, released) = oneshot::channel::<()>();
    let released = std::sync::Arc::new(tokio::sync::Mutex::new(Some(released)));
    let router = Router::new().route(
        "/slow",
        get({
            let entered = entered.clone();
            move || async move {
                entered.notify_one();
                let waiting = released.lock().await.take();
                if let Some(waiting) = waiting {
                    let _ = waiting.await;
                }
                "done"
            }
        }),
    );
    let mut running = start(router, ServeOptions::default()).await;
    let mut in_flight = TcpStream::connect(running.addr).await.unwrap();
    let mut idle = TcpStream::connect(running.addr).await.unwrap();
    send_get(&mut in_flight, "/slow").await;
    entered.notified().await;

    running.shut_down();
    // The listener goes first: poll until a fresh connection is refused.
    let refused = tokio::time::timeout(DEADLINE, async {
        loop {
            if TcpStream::connect(running.addr).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        refused.is_ok(),
        "new connections must be refused once shutdown starts"
    );
    assert!(
        closed_by_server(&mut idle).await,
        "an idle keep-alive connection is closed at shutdown"
    );
    assert!(
        !running.served.is_finished(),
        "serve waits for the request in flight"
    );

    release.send(()).unwrap();
    let response = read_response(&mut in_flight).await;
    assert!(
        response.starts_with("HTTP/1.1 200") && response.ends_with("done"),
        "{response}"
    );
    let served = tokio::time::timeout(DEADLINE, running.served)
        .await
        .expect("serve returns after draining");
    assert!(served.unwrap().is_ok());
}

#[tokio::test]
async fn a_request_that_outlives_the_grace_period_is_dropped_and_serve_returns() {
    let entered = std::sync::Arc::new(Notify::new());
    let router = Router::new().route(
        "/never",
        get({
            let entered = entered.clone();
            move || async move {
                entered.notify_one();
                std::future::pending::<()>().await;
            }
        }),
    );
    let options = ServeOptions {
        grace: Duration::from_millis(50),
        ..ServeOptions::default()
    };
    let mut running = start(router, options).await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    send_get(&mut stream, "/never").await;
    entered.notified().await;
    running.shut_down();
    let served = tokio::time::timeout(DEADLINE, running.served)
        .await
        .expect("serve returns after the grace period");
    assert!(served.unwrap().is_ok());
    assert!(
        closed_by_server(&mut stream).await,
        "the connection is dropped when the grace is over"
    );
}

#[tokio::test]
async fn when_the_connection_cap_is_reached_the_next_client_waits_for_a_free_slot() {
    let router = Router::new().route("/", get(|| async { "ok" }));
    let options = ServeOptions {
        max_connections: Some(1),
        ..ServeOptions::default()
    };
    let running = start(router, options).await;
    let mut first = TcpStream::connect(running.addr).await.unwrap();
    send_get(&mut first, "/").await;
    assert!(read_response(&mut first).await.starts_with("HTTP/1.1 200"));

    // The kernel completes the handshake, but the server does not read from the second
    // connection while the first (kept alive) holds the only slot.
    let mut second = TcpStream::connect(running.addr).await.unwrap();
    send_get(&mut second, "/").await;
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "the second client must not be served while the cap is reached"
    );

    drop(first);
    assert!(read_response(&mut second).await.starts_with("HTTP/1.1 200"));
}

/// Everything the server sends until it closes the connection.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut buf))
        .await
        .expect("the server closes the connection within the deadline")
        .expect("the server closes the connection without a reset");
    String::from_utf8(buf).unwrap()
}

const REQUEST_TIMEOUT: &str =
    "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

async fn start_with_header_timeout() -> Running {
    let router = Router::new().route("/", get(|| async { "ok" }));
    let options = ServeOptions {
        header_read_timeout: Some(Duration::from_millis(100)),
        ..ServeOptions::default()
    };
    start(router, options).await
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_answered_408_and_disconnected() {
    let running = start_with_header_timeout().await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: te")
        .await
        .unwrap();
    assert_eq!(read_until_closed(&mut stream).await, REQUEST_TIMEOUT);
}

#[tokio::test]
async fn a_stalled_request_pipelined_behind_a_served_one_is_answered_408() {
    let running = start_with_header_timeout().await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\nGET / HTTP/1.1\r\nho")
        .await
        .unwrap();
    let answers = read_until_closed(&mut stream).await;
    let (served, rest) = answers
        .split_once("\r\n\r\nok")
        .unwrap_or_else(|| panic!("the first request is served: {answers}"));
    assert!(served.starts_with("HTTP/1.1 200"), "{answers}");
    assert_eq!(rest, REQUEST_TIMEOUT);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_without_an_answer() {
    let running = start_with_header_timeout().await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    send_get(&mut stream, "/").await;
    let response = read_response(&mut stream).await;
    assert!(
        response.starts_with("HTTP/1.1 200") && response.ends_with("ok"),
        "{response}"
    );
    assert_eq!(read_until_closed(&mut stream).await, "");
}

#[tokio::test]
async fn a_connection_that_never_starts_a_request_is_closed_without_an_answer() {
    let running = start_with_header_timeout().await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    assert_eq!(read_until_closed(&mut stream).await, "");

    // Nor do the empty lines a client may send before a request line begin one.
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    stream.write_all(b"\r\n").await.unwrap();
    assert_eq!(read_until_closed(&mut stream).await, "");
}

#[tokio::test]
async fn headers_over_the_cap_are_refused_and_the_connection_closed() {
    let router = Router::new().route("/", get(|| async { "ok" }));
    let options = ServeOptions {
        max_header_bytes: Some(16 * 1024),
        ..ServeOptions::default()
    };
    let running = start(router, options).await;

    let mut within = TcpStream::connect(running.addr).await.unwrap();
    let padding = format!("x-padding: {}\r\n", "a".repeat(12 * 1024));
    within
        .write_all(format!("GET / HTTP/1.1\r\nhost: test\r\n{padding}\r\n").as_bytes())
        .await
        .unwrap();
    assert!(read_response(&mut within).await.starts_with("HTTP/1.1 200"));

    let mut over = TcpStream::connect(running.addr).await.unwrap();
    let padding = format!("x-padding: {}\r\n", "a".repeat(20 * 1024));
    // The server may stop reading before all of it is written: that is the point.
    let _ = over
        .write_all(format!("GET / HTTP/1.1\r\nhost: test\r\n{padding}").as_bytes())
        .await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, over.read_to_end(&mut buf))
        .await
        .expect("closed within the deadline");
    let answer = String::from_utf8_lossy(&buf);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
}
