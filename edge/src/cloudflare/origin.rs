//! The origin, by `fetch` in the glue (`askOrigin`): one call out, and the answer back whole.

use http::{HeaderName, HeaderValue};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use worker::js_sys::{Array, Promise, Uint8Array};

use crate::{OriginClient, OriginError};

#[wasm_bindgen(module = "/src/cloudflare/glue.js")]
extern "C" {
    /// Settles with `[status, header lines, body]`, or fails with "timeout" or the reason.
    #[wasm_bindgen(js_name = askOrigin)]
    fn ask_origin(method: &str, url: &str, head: &str, body: &[u8], timeout_ms: u32) -> Promise;
}

/// The origin, by `fetch`, raced against `ORIGIN_TIMEOUT_MS`.
pub struct FetchOrigin {
    timeout_ms: u32,
}

impl FetchOrigin {
    pub fn new(timeout_ms: u32) -> Self {
        Self { timeout_ms }
    }
}

impl OriginClient for FetchOrigin {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OriginError> {
        let (parts, body) = request.into_parts();
        let (method, url, head) =
            (parts.method.as_str(), parts.uri.to_string(), super::response::lines_of(&parts.headers, None));
        let answer = JsFuture::from(ask_origin(method, &url, &head, &body, self.timeout_ms)).await.map_err(
            |reason| match reason.as_string() {
                Some(text) if text == "timeout" => OriginError::Timeout,
                Some(text) => OriginError::Unreachable(text),
                None => OriginError::Unreachable(format!("{reason:?}")),
            },
        )?;
        let answer: Array = answer.unchecked_into();
        let mut response = http::Response::builder().status(answer.get(0).as_f64().unwrap_or(0.0) as u16);
        if let (Some(headers), Some(lines)) = (response.headers_mut(), answer.get(1).as_string()) {
            // A pair `http` refuses is left out: the core passes back only a few, all valid.
            let mut lines = lines.split('\n');
            while let (Some(name), Some(value)) = (lines.next(), lines.next()) {
                if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                    headers.append(name, value);
                }
            }
        }
        let bytes = answer.get(2).unchecked_into::<Uint8Array>().to_vec();
        response.body(bytes).map_err(|e| OriginError::Unreachable(e.to_string()))
    }

    fn log(&self, line: &str) {
        worker::console_error!("{line}");
    }
}
