//! wasi:io as the Spin adapter uses it: bodies read and written whole through their streams, under
//! an optional deadline, by waiting on pollables on spin-sdk's executor; and the mapping of
//! wasi:http's methods and errors to `http`'s and the core's.

use std::future::{Future, poll_fn};
use std::task::Poll;

use spin_executor::{CancelOnDropToken, push_waker_and_get_token};
use wasi::clocks::monotonic_clock::{self, Instant};
use wasi::http::types::{self as wasi_http, ErrorCode, IncomingBody, Method, OutgoingBody};
use wasi::io::poll::Pollable;
use wasi::io::streams::{InputStream, OutputStream, StreamError};

use crate::OriginError;

/// Bytes asked of a stream per read.
const READ_SIZE: u64 = 16 * 1024;

/// Why a body was not read.
pub enum ReadError {
    Timeout,
    TooLarge,
    Failed(OriginError),
}

/// The whole of `body`, refusing more than `limit` bytes.
pub async fn read_body(body: IncomingBody, limit: usize, deadline: Option<Instant>) -> Result<Vec<u8>, ReadError> {
    let stream = body.stream().map_err(|()| ReadError::Failed(OriginError::Unreachable("no body stream".into())))?;
    let bytes = read_to_end(&stream, limit, deadline).await;
    drop(stream);
    drop(IncomingBody::finish(body));
    bytes
}

/// Writes all of `bytes` to `body`, and ends it.
pub async fn write_body(body: OutgoingBody, bytes: &[u8], deadline: Option<Instant>) -> Result<(), OriginError> {
    if !bytes.is_empty() {
        let stream = body.write().map_err(|()| OriginError::Unreachable("no body stream".into()))?;
        let written = write_all(&stream, bytes, deadline).await;
        drop(stream);
        written?;
    }
    OutgoingBody::finish(body, None).map_err(|e| origin_error(&e))
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
pub fn ready(subscribe: impl Fn() -> Pollable, deadline: Option<Instant>) -> impl Future<Output = bool> {
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

/// Timeouts are 504, everything else (refused, reset, DNS, protocol) 502.
pub fn origin_error(code: &ErrorCode) -> OriginError {
    match code {
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => OriginError::Timeout,
        // Spin's sandbox: ORIGIN_URL is not the origin_url that spin.toml opens it to.
        ErrorCode::HttpRequestDenied => OriginError::Unreachable(
            "HttpRequestDenied: the host's sandbox refused ORIGIN_URL (under Spin, set SPIN_VARIABLE_ORIGIN_URL to the same URL)"
                .into(),
        ),
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

/// A wasi:http method as `http`'s.
pub fn http_method(method: &Method) -> Option<http::Method> {
    let name = match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    };
    http::Method::from_bytes(name.as_bytes()).ok()
}

/// An `http` method as wasi:http's.
pub fn wasi_method(method: &http::Method) -> Method {
    match method.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_owned()),
    }
}
