//! The Spin / WASI HTTP adapter (wasm32-wasip2, WASI 0.2.0 as spin-sdk 5 speaks it): converts the
//! incoming `wasi:http` request into the core's `http` request (only the headers the core reads,
//! the body left unread until the core asks), calls [`Edge::handle`], converts the answer back.
//! The origin is reached with `wasi:http/outgoing-handler`, under one deadline of
//! `ORIGIN_TIMEOUT_MS`. The handler runs on spin-sdk's executor, which waits on wasi:io pollables.
//!
//! The same component runs under `spin up` and `wasmtime serve -Scli`. Configuration comes from
//! environment variables only: Spin's variables interface would make wasmtime refuse it.
//!
//! The export is `wasi::http::proxy::export!`, not `#[spin_sdk::http_component]`: that attribute
//! expands wit-bindgen's `#[export_name]`/`unsafe extern` glue as a macro local to this crate,
//! which the workspace's `forbid(unsafe_code)` refuses; the `wasi` crate's macro is the same glue
//! (`wasi:http/incoming-handler@0.2.0#handle`) kept inside that crate.

use std::cell::OnceCell;
use std::future::{Future, poll_fn};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;
use spin_executor::{CancelOnDropToken, push_waker_and_get_token};
use wasi::clocks::monotonic_clock::{self, Instant};
use wasi::http::outgoing_handler;
use wasi::http::types::{
    self as wasi_http, ErrorCode, Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest,
    OutgoingResponse, RequestOptions, ResponseOutparam, Scheme,
};
use wasi::io::poll::Pollable;
use wasi::io::streams::{InputStream, OutputStream, StreamError};

use crate::{
    BodyError, ConfigError, Edge, EdgeConfig, LazyBody, OriginClient, OriginError, PASSED_BACK, REQUEST_HEADERS,
};

/// The most of an origin answer the edge holds in memory.
const ORIGIN_BODY_LIMIT: usize = 16 << 20;
/// Bytes asked of a stream per read.
const READ_SIZE: u64 = 16 * 1024;

/// The edge and what the adapter alone reads from the environment.
struct Adapter {
    edge: Edge<WasiOrigin>,
    /// `EDGE_CLIENT_ADDR_HEADER`: the request header in which the host writes the client's
    /// address (`spin-client-addr` under Spin; spin.toml sets it). Unset, no address is passed:
    /// `wasmtime serve` writes none, and a header the client wrote itself must not be trusted.
    client_addr_header: Option<String>,
}

type Built = Result<Rc<Adapter>, ConfigError>;

thread_local! {
    /// Built at the instance's first request and kept for as long as the host keeps the instance.
    static ADAPTER: OnceCell<Built> = const { OnceCell::new() };
}

fn adapter() -> Built {
    ADAPTER.with(|cell| {
        cell.get_or_init(|| {
            let var = |name: &str| std::env::var(name).ok();
            let config = EdgeConfig::from_lookup(var)?;
            let timeout_ns = config.origin_timeout_ms.saturating_mul(1_000_000);
            let client_addr_header = var("EDGE_CLIENT_ADDR_HEADER")
                .map(|name| name.trim().to_ascii_lowercase())
                .filter(|name| !name.is_empty());
            Ok(Rc::new(Adapter { edge: Edge::new(config, WasiOrigin { timeout_ns }), client_addr_header }))
        })
        .clone()
    })
}

struct Component;

wasi::http::proxy::export!(Component);

impl wasi::exports::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        spin_sdk::http::run(serve(request, response_out));
    }
}

async fn serve(request: IncomingRequest, response_out: ResponseOutparam) {
    let answer = match adapter() {
        Ok(adapter) => match to_http(&request, adapter.client_addr_header.as_deref()) {
            Some((head, client_ip, declared)) => {
                let body = SpinBody { request, declared };
                adapter.edge.handle(head.map(|()| body), client_ip.as_deref(), now_secs()).await
            }
            None => crate::respond::error(StatusCode::BAD_REQUEST, "Bad Request"),
        },
        Err(err) => {
            // The operator reads the reason in the log; the client learns only that it is not up.
            eprintln!("{err}");
            crate::respond::error(StatusCode::SERVICE_UNAVAILABLE, "Service misconfigured")
        }
    };
    respond(response_out, answer).await;
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// The method, path and the few headers the core reads; also the client's address (when the
/// host is trusted to write one) and the declared body length. The body stays in the request.
fn to_http(
    request: &IncomingRequest,
    client_addr_header: Option<&str>,
) -> Option<(http::Request<()>, Option<String>, Option<usize>)> {
    let method = match request.method() {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Connect => http::Method::CONNECT,
        Method::Options => http::Method::OPTIONS,
        Method::Trace => http::Method::TRACE,
        Method::Patch => http::Method::PATCH,
        Method::Other(other) => http::Method::from_bytes(other.as_bytes()).ok()?,
    };
    let path_and_query = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let mut head = http::Request::builder().method(method).uri(path_and_query);
    let fields = request.headers();
    for name in REQUEST_HEADERS {
        for value in fields.get(&name.to_owned()) {
            head = head.header(name, value);
        }
    }
    let declared = fields
        .get(&"content-length".to_owned())
        .first()
        .map(|n| std::str::from_utf8(n).ok().and_then(|n| n.trim().parse().ok()).unwrap_or(usize::MAX));
    // The host appends its own value after any the client sent: the last one is the host's.
    let client_ip = client_addr_header.and_then(|name| {
        let value = fields.get(&name.to_owned()).pop()?;
        let value = std::str::from_utf8(&value).ok()?.trim();
        let ip = value.parse::<SocketAddr>().map(|addr| addr.ip()).or_else(|_| value.parse::<IpAddr>()).ok()?;
        Some(ip.to_string())
    });
    drop(fields);
    Some((head.body(()).ok()?, client_ip, declared))
}

/// Writes the core's answer as the response.
async fn respond(response_out: ResponseOutparam, answer: http::Response<Vec<u8>>) {
    let (parts, body) = answer.into_parts();
    let fields = Fields::new();
    for (name, value) in &parts.headers {
        // The core makes only valid headers; one the host refuses is left out, not fatal.
        let _ = fields.append(&name.as_str().to_owned(), &value.as_bytes().to_vec());
    }
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(parts.status.as_u16());
    let Ok(response_body) = response.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    // The client went away, or the host refused: nothing left to tell anyone but the log.
    let written = match response_body.write() {
        Ok(stream) => {
            let written = write_all(&stream, &body, None).await;
            drop(stream);
            written
        }
        Err(()) => Err(OriginError::Unreachable("no response body stream".into())),
    };
    if let Err(err) = written.and_then(|()| OutgoingBody::finish(response_body, None).map_err(|e| origin_error(&e))) {
        eprintln!("edge: could not send the response: {err:?}");
    }
}

/// The incoming request, kept whole until the core asks for its body.
struct SpinBody {
    request: IncomingRequest,
    /// `content-length`, when the client sent one (`usize::MAX` when it is not a number).
    declared: Option<usize>,
}

impl LazyBody for SpinBody {
    async fn read(self, limit: usize) -> Result<Vec<u8>, BodyError> {
        if self.declared.is_some_and(|n| n > limit) {
            return Err(BodyError::TooLarge);
        }
        let body = self.request.consume().map_err(|()| BodyError::Unreadable)?;
        let stream = body.stream().map_err(|()| BodyError::Unreadable)?;
        let bytes = read_to_end(&stream, limit, None).await;
        drop(stream);
        drop(IncomingBody::finish(body));
        bytes.map_err(|err| match err {
            ReadError::TooLarge => BodyError::TooLarge,
            _ => BodyError::Unreadable,
        })
    }
}

/// The origin over `wasi:http/outgoing-handler`.
struct WasiOrigin {
    timeout_ns: u64,
}

impl OriginClient for WasiOrigin {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OriginError> {
        let context = crate::FailureContext::of(&request);
        let answer = self.exchange(request).await;
        if let Err(err) = &answer {
            eprintln!("{}", context.line(err));
        }
        answer
    }
}

impl WasiOrigin {
    async fn exchange(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OriginError> {
        // One deadline for the whole exchange: connecting, sending, the answer and its body.
        let deadline = monotonic_clock::now().saturating_add(self.timeout_ns);
        let (parts, body) = request.into_parts();

        let fields = Fields::new();
        for (name, value) in &parts.headers {
            fields
                .append(&name.as_str().to_owned(), &value.as_bytes().to_vec())
                .map_err(|e| OriginError::Unreachable(format!("header {name}: {e:?}")))?;
        }
        if !body.is_empty() || matches!(parts.method, http::Method::POST | http::Method::PUT | http::Method::PATCH) {
            let length = body.len().to_string().into_bytes();
            fields
                .set(&"content-length".to_owned(), &[length])
                .map_err(|e| OriginError::Unreachable(format!("content-length: {e:?}")))?;
        }
        let outgoing = OutgoingRequest::new(fields);
        let invalid = |what: &str| OriginError::Unreachable(format!("ORIGIN_URL: invalid {what}"));
        outgoing.set_method(&wasi_method(&parts.method)).map_err(|()| invalid("method"))?;
        let scheme = match parts.uri.scheme_str() {
            Some("https") => Scheme::Https,
            _ => Scheme::Http,
        };
        outgoing.set_scheme(Some(&scheme)).map_err(|()| invalid("scheme"))?;
        outgoing.set_authority(parts.uri.authority().map(|a| a.as_str())).map_err(|()| invalid("authority"))?;
        outgoing.set_path_with_query(parts.uri.path_and_query().map(|pq| pq.as_str())).map_err(|()| invalid("path"))?;
        let outgoing_body = outgoing.body().map_err(|()| invalid("body"))?;

        // The host's own timeouts too, where it has them; the deadline below governs regardless.
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(self.timeout_ns));
        let _ = options.set_first_byte_timeout(Some(self.timeout_ns));
        let _ = options.set_between_bytes_timeout(Some(self.timeout_ns));
        let pending = outgoing_handler::handle(outgoing, Some(options)).map_err(|e| origin_error(&e))?;

        if !body.is_empty() {
            let stream = outgoing_body.write().map_err(|()| invalid("body"))?;
            let written = write_all(&stream, &body, Some(deadline)).await;
            drop(stream);
            written?;
        }
        OutgoingBody::finish(outgoing_body, None).map_err(|e| origin_error(&e))?;

        if !ready(|| pending.subscribe(), Some(deadline)).await {
            return Err(OriginError::Timeout);
        }
        let answer = match pending.get() {
            Some(Ok(Ok(answer))) => answer,
            Some(Ok(Err(e))) => return Err(origin_error(&e)),
            Some(Err(())) | None => return Err(OriginError::Unreachable("no answer".into())),
        };

        let mut response = http::Response::builder().status(answer.status());
        let headers = answer.headers();
        for name in PASSED_BACK {
            for value in headers.get(&name.to_owned()) {
                response = response.header(name, value);
            }
        }
        drop(headers);
        let answer_body = answer.consume().map_err(|()| OriginError::Unreachable("answer body".into()))?;
        let stream = answer_body.stream().map_err(|()| OriginError::Unreachable("answer body".into()))?;
        let bytes = read_to_end(&stream, ORIGIN_BODY_LIMIT, Some(deadline)).await;
        drop(stream);
        drop(IncomingBody::finish(answer_body));
        drop(answer);
        let bytes = bytes.map_err(|e| match e {
            ReadError::Timeout => OriginError::Timeout,
            ReadError::TooLarge => OriginError::Unreachable("answer too large".into()),
            ReadError::Failed(e) => e,
        })?;
        response.body(bytes).map_err(|e| OriginError::Unreachable(e.to_string()))
    }
}

fn wasi_method(method: &http::Method) -> Method {
    match *method {
        http::Method::GET => Method::Get,
        http::Method::HEAD => Method::Head,
        http::Method::POST => Method::Post,
        http::Method::PUT => Method::Put,
        http::Method::DELETE => Method::Delete,
        http::Method::CONNECT => Method::Connect,
        http::Method::OPTIONS => Method::Options,
        http::Method::TRACE => Method::Trace,
        http::Method::PATCH => Method::Patch,
        _ => Method::Other(method.as_str().to_owned()),
    }
}

/// Timeouts are 504, everything else (refused, reset, DNS, protocol) 502.
fn origin_error(code: &ErrorCode) -> OriginError {
    match code {
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => OriginError::Timeout,
        other => OriginError::Unreachable(format!("{other:?}")),
    }
}

fn stream_error(err: StreamError) -> OriginError {
    match err {
        StreamError::Closed => OriginError::Unreachable("connection closed".into()),
        StreamError::LastOperationFailed(e) => match wasi_http::http_error_code(&e) {
            Some(code) => origin_error(&code),
            None => OriginError::Unreachable(e.to_debug_string()),
        },
    }
}

enum ReadError {
    Timeout,
    TooLarge,
    Failed(OriginError),
}

/// Reads a stream to its end, refusing more than `limit` bytes.
async fn read_to_end(stream: &InputStream, limit: usize, deadline: Option<Instant>) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    loop {
        match stream.read(READ_SIZE) {
            Ok(chunk) if chunk.is_empty() => {
                if !ready(|| stream.subscribe(), deadline).await {
                    return Err(ReadError::Timeout);
                }
            }
            Ok(chunk) => {
                if bytes.len() + chunk.len() > limit {
                    return Err(ReadError::TooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(bytes),
            Err(err) => return Err(ReadError::Failed(stream_error(err))),
        }
    }
}

/// Writes and flushes all of `bytes`, as fast as the host takes them.
async fn write_all(stream: &OutputStream, mut bytes: &[u8], deadline: Option<Instant>) -> Result<(), OriginError> {
    let mut flushed = false;
    loop {
        let room = match stream.check_write() {
            // Every byte is out and the host has closed the stream (the body reached its
            // content-length): that is the end of the write, not a failure. spin-sdk's own body
            // sink reads it the same way.
            Err(StreamError::Closed) if bytes.is_empty() => return Ok(()),
            other => other.map_err(stream_error)?,
        };
        if room == 0 {
            if !ready(|| stream.subscribe(), deadline).await {
                return Err(OriginError::Timeout);
            }
        } else if !bytes.is_empty() {
            let n = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            stream.write(&bytes[..n]).map_err(stream_error)?;
            bytes = &bytes[n..];
        } else if flushed {
            // Room again after the flush: every byte has gone to the host.
            return Ok(());
        } else {
            match stream.flush() {
                Err(StreamError::Closed) => return Ok(()),
                other => other.map_err(stream_error)?,
            }
            flushed = true;
        }
    }
}

/// Waits on spin-sdk's executor until `subscribe`'s pollable is ready (`true`) or `deadline` passes
/// (`false`). Every pollable is dropped by the time this resolves, so never outlives its parent.
fn ready(subscribe: impl Fn() -> Pollable, deadline: Option<Instant>) -> impl Future<Output = bool> {
    let mut registered: Vec<CancelOnDropToken> = Vec::new();
    poll_fn(move |cx| {
        registered.clear();
        let pollable = subscribe();
        if pollable.ready() {
            return Poll::Ready(true);
        }
        if let Some(deadline) = deadline {
            if monotonic_clock::now() >= deadline {
                return Poll::Ready(false);
            }
            let timer = monotonic_clock::subscribe_instant(deadline);
            registered.push(push_waker_and_get_token(timer, cx.waker().clone()).into());
        }
        registered.push(push_waker_and_get_token(pollable, cx.waker().clone()).into());
        Poll::Pending
    })
}
