//! The request body, read only when the edge needs it, and its limit: the core's policy, which
//! each host's body only carries out.

use shared::api::MAX_BODY_BYTES;
use shared::refusal::Refusal;

/// A request body that is read only when the edge needs it: a rejected token costs no copy.
#[allow(async_fn_in_trait)]
pub trait LazyBody {
    /// The request's `content-length` as the host has it, if the client sent one.
    fn declared_length(&self) -> Option<String>;

    /// The body, unless it exceeds `limit` bytes (stop reading past it: a body that declares no
    /// length must not fill memory) or cannot be read.
    async fn read(self, limit: usize) -> Result<Vec<u8>, BodyError>;
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (413).
    TooLarge,
    /// The client's stream broke off (400).
    Unreadable,
}

impl LazyBody for Vec<u8> {
    fn declared_length(&self) -> Option<String> {
        None
    }

    async fn read(self, limit: usize) -> Result<Vec<u8>, BodyError> {
        if self.len() > limit { Err(BodyError::TooLarge) } else { Ok(self) }
    }
}

/// The body within [`MAX_BODY_BYTES`]: one declared larger is refused before a byte is read, one
/// that streams past it as soon as it does. A declared length that is not a number declares
/// nothing (hosts refuse such requests before the edge sees them); the stream's limit still holds.
pub(crate) async fn read_within_limit(body: impl LazyBody) -> Result<Vec<u8>, Refusal> {
    let declared = body.declared_length().and_then(|length| length.trim().parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(Refusal::BodyTooLarge);
    }
    body.read(MAX_BODY_BYTES).await.map_err(|err| match err {
        BodyError::TooLarge => Refusal::BodyTooLarge,
        BodyError::Unreadable => Refusal::BodyUnreadable,
    })
}
