//! The origin behind a small trait: one implementation per runtime (`worker::Fetch` on
//! Cloudflare, wasi:http on Spin), and [`RecordingOrigin`] for the core's tests.

use std::cell::RefCell;
use std::collections::VecDeque;

/// Why the origin gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginError {
    /// Refused, reset, DNS: the client gets 502.
    Unreachable(String),
    /// No answer within `ORIGIN_TIMEOUT_MS`: the client gets 504.
    Timeout,
}

/// What the log says of a request the origin did not answer: the client sees only 502/504, the
/// operator needs the reason, and the request id ties the line to the client's answer. Taken
/// from the request before it is sent away.
pub struct FailureContext {
    path: String,
    request_id: String,
}

impl FailureContext {
    pub fn of(request: &http::Request<Vec<u8>>) -> Self {
        let id = request.headers().get("x-request-id").and_then(|id| id.to_str().ok()).unwrap_or("-");
        Self { path: request.uri().path().to_owned(), request_id: id.to_owned() }
    }

    pub fn line(&self, err: &OriginError) -> String {
        format!("edge: origin {} (x-request-id {}): {err:?}", self.path, self.request_id)
    }
}

/// Sends one request to the origin. Runtimes are single-threaded, so futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait OriginClient {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OriginError>;
}

/// An origin that answers from a queue and keeps every request it was sent, so tests can prove
/// which requests reached it.
#[derive(Default)]
pub struct RecordingOrigin {
    pub answers: RefCell<VecDeque<Result<http::Response<Vec<u8>>, OriginError>>>,
    pub requests: RefCell<Vec<http::Request<Vec<u8>>>>,
}

impl RecordingOrigin {
    pub fn answering(answers: impl IntoIterator<Item = Result<http::Response<Vec<u8>>, OriginError>>) -> Self {
        Self { answers: RefCell::new(answers.into_iter().collect()), requests: RefCell::default() }
    }
}

impl OriginClient for RecordingOrigin {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OriginError> {
        self.requests.borrow_mut().push(request);
        self.answers.borrow_mut().pop_front().unwrap_or(Err(OriginError::Unreachable("no answer queued".into())))
    }
}
