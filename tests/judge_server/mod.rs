//! A small HTTP/1.1 server on loopback that plays an OpenAI-compatible endpoint for the
//! judge tests: a handler decides each reply (status, headers, body, delay, or a dropped
//! connection), and the server records every request and the most requests in flight.
//!
//! It runs on its own thread with its own tokio runtime, so tests can use it from sync
//! code, from async tests and while a child process (the CLI) talks to it.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// 0-based arrival index.
    pub index: usize,
    /// When it was fully read.
    pub at: Instant,
    /// The request line, e.g. `POST /v1/chat/completions HTTP/1.1`.
    pub line: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Request {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The user prompt of the chat request.
    pub fn prompt(&self) -> String {
        self.json()["messages"][1]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The `Profile ID:` line of the prompt.
    pub fn profile_id(&self) -> String {
        self.prompt()
            .lines()
            .find_map(|l| l.strip_prefix("Profile ID: "))
            .unwrap_or_default()
            .to_string()
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
    /// Close the connection without answering.
    pub drop: bool,
}

impl Reply {
    /// A 200 chat completion whose message content is `content` (100 prompt and 20
    /// completion tokens).
    pub fn content(content: &str) -> Reply {
        let body = serde_json::json!({
            "id": "chatcmpl-test", "object": "chat.completion", "created": 1, "model": "judge-test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        });
        Reply {
            status: 200,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
            drop: false,
        }
    }

    /// A 200 completion with a JSON score.
    pub fn score(score: i64) -> Reply {
        Reply::content(&format!(
            r#"{{"score": {score}, "justification": "graded {score}"}}"#
        ))
    }

    /// Any status with a body.
    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
            drop: false,
        }
    }

    /// A closed connection with no reply.
    pub fn dropped() -> Reply {
        Reply {
            drop: true,
            ..Reply::status(200, "")
        }
    }

    /// Adds a header.
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }

    /// Waits before answering.
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

struct State {
    handler: Box<Handler>,
    requests: Mutex<Vec<Request>>,
    count: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A running server; it stops when dropped.
pub struct Server {
    /// The API root to give the judge, `http://127.0.0.1:PORT/v1`.
    pub url: String,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a server whose replies come from `handler`.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let state = Arc::new(State {
            handler: Box::new(handler),
            requests: Mutex::new(vec![]),
            count: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                tokio::select! {
                    _ = stop_rx => {}
                    _ = async {
                        loop {
                            let Ok((sock, _)) = listener.accept().await else { continue };
                            tokio::spawn(serve(sock, st.clone()));
                        }
                    } => {}
                }
            });
            rt.shutdown_background();
        });
        let addr = addr_rx.recv().unwrap();
        Server {
            url: format!("http://{addr}/v1"),
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    /// The most requests that were being handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Decrements the in-flight count however a connection ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve(sock: tokio::net::TcpStream, st: Arc<State>) {
    let Some((line, headers, body)) = read_request(&sock).await else {
        return;
    };
    let index = st.count.fetch_add(1, Ordering::SeqCst);
    let req = Request {
        index,
        at: Instant::now(),
        line,
        headers,
        body,
    };
    st.requests.lock().unwrap().push(req.clone());
    let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    st.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let guard = InFlight(&st.in_flight);
    let reply = (st.handler)(&req);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    // Leave the in-flight count before answering: the client can only send its next
    // request after it has read this reply, so the count never overlaps by accident.
    drop(guard);
    if reply.drop {
        return;
    }
    let mut head = format!(
        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(&reply.body);
    let _ = write_all(&sock, head.as_bytes()).await;
}

// Reads and writes through `readable`/`try_read` so the helper needs only tokio's `net`
// feature (not `io-util`).
async fn read_some(sock: &tokio::net::TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        sock.readable().await?;
        match sock.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

async fn write_all(sock: &tokio::net::TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        sock.writable().await?;
        match sock.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_request(
    sock: &tokio::net::TcpStream,
) -> Option<(String, Vec<(String, String)>, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = read_some(sock, &mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let line = lines.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = read_some(sock, &mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((line, headers, String::from_utf8_lossy(&body).to_string()))
}

/// A loopback URL where nothing listens (connections are refused).
pub fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/v1")
}
