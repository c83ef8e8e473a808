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

/// The host as the core uses it: one request to the origin, and the operator's log. Runtimes are
/// single-threaded, so futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait OriginClient {
    /// Sends one request and returns the origin's whole answer, every header of it: the core
    /// decides which reach the client.
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OriginError>;

    /// Writes one line, composed by the core, to the host's log.
    fn log(&self, line: &str);
}

/// An origin that answers from a queue and keeps every request it was sent and every line logged,
/// so tests can prove which requests reached it and what the operator read.
#[derive(Default)]
pub struct RecordingOrigin {
    pub answers: RefCell<VecDeque<Result<http::Response<Vec<u8>>, OriginError>>>,
    pub requests: RefCell<Vec<http::Request<Vec<u8>>>>,
    pub logged: RefCell<Vec<String>>,
}

impl RecordingOrigin {
    pub fn answering(answers: impl IntoIterator<Item = Result<http::Response<Vec<u8>>, OriginError>>) -> Self {
        Self { answers: RefCell::new(answers.into_iter().collect()), ..Self::default() }
    }
}

impl OriginClient for RecordingOrigin {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OriginError> {
        self.requests.borrow_mut().push(request);
        self.answers.borrow_mut().pop_front().unwrap_or(Err(OriginError::Unreachable("no answer queued".into())))
    }

    fn log(&self, line: &str) {
        self.logged.borrow_mut().push(line.to_owned());
    }
}
