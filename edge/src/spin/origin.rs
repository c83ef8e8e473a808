//! The origin over `wasi:http/outgoing-handler`, under one deadline of `ORIGIN_TIMEOUT_MS`.

use http::{HeaderName, HeaderValue};
use wasi::clocks::monotonic_clock;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, OutgoingRequest, RequestOptions, Scheme};

use super::wasi_io::{self, ReadError, origin_error};
use crate::{OriginClient, OriginError};

/// The most of an origin answer the edge holds in memory.
const ORIGIN_BODY_LIMIT: usize = 16 << 20;

/// The origin over `wasi:http/outgoing-handler`.
pub struct WasiOrigin {
    timeout_ns: u64,
}

impl WasiOrigin {
    pub fn new(timeout_ns: u64) -> Self {
        Self { timeout_ns }
    }
}

impl OriginClient for WasiOrigin {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OriginError> {
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
                .set(&http::header::CONTENT_LENGTH.as_str().to_owned(), &[length])
                .map_err(|e| OriginError::Unreachable(format!("content-length: {e:?}")))?;
        }
        let outgoing = OutgoingRequest::new(fields);
        let invalid = |what: &str| OriginError::Unreachable(format!("ORIGIN_URL: invalid {what}"));
        outgoing.set_method(&wasi_io::wasi_method(&parts.method)).map_err(|()| invalid("method"))?;
        let scheme = if parts.uri.scheme_str() == Some("https") { Scheme::Https } else { Scheme::Http };
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
        wasi_io::write_body(outgoing_body, &body, Some(deadline)).await?;
        if !wasi_io::ready(|| pending.subscribe(), Some(deadline)).await {
            return Err(OriginError::Timeout);
        }
        let answer = match pending.get() {
            Some(Ok(Ok(answer))) => answer,
            Some(Ok(Err(e))) => return Err(origin_error(&e)),
            Some(Err(())) | None => return Err(OriginError::Unreachable("no answer".into())),
        };
        let mut response = http::Response::builder().status(answer.status());
        if let Some(headers) = response.headers_mut() {
            // A pair `http` refuses is left out: the core passes back only a few, all valid.
            for (name, value) in answer.headers().entries() {
                if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                    headers.append(name, value);
                }
            }
        }
        let answer_body = answer.consume().map_err(|()| OriginError::Unreachable("answer body".into()))?;
        let bytes = wasi_io::read_body(answer_body, ORIGIN_BODY_LIMIT, Some(deadline)).await;
        drop(answer);
        let bytes = bytes.map_err(|e| match e {
            ReadError::Timeout => OriginError::Timeout,
            ReadError::TooLarge => OriginError::Unreachable("answer too large".into()),
            ReadError::Failed(e) => e,
        })?;
        response.body(bytes).map_err(|e| OriginError::Unreachable(e.to_string()))
    }

    fn log(&self, line: &str) {
        eprintln!("{line}");
    }
}
