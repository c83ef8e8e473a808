//! The origin over `worker::Fetch`, raced against `ORIGIN_TIMEOUT_MS`.

use std::time::Duration;

use futures_util::future::{Either, select};
use http::{HeaderName, HeaderValue};
use wasm_bindgen::prelude::*;
use worker::worker_sys::web_sys;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

use crate::{OriginClient, OriginError};

#[wasm_bindgen(module = "/src/cloudflare/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = headerLines)]
    fn header_lines(headers: &web_sys::Headers) -> String;
}

pub struct FetchOrigin {
    timeout: Duration,
}

impl FetchOrigin {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl OriginClient for FetchOrigin {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OriginError> {
        let unreachable = |e: worker::Error| OriginError::Unreachable(e.to_string());
        let (parts, body) = request.into_parts();
        let headers = Headers::new();
        for (name, value) in &parts.headers {
            if let Ok(value) = value.to_str() {
                headers.set(name.as_str(), value).map_err(unreachable)?;
            }
        }
        let mut init = RequestInit::new();
        init.with_method(Method::from(parts.method.as_str().to_owned())).with_headers(headers);
        if !body.is_empty() {
            init.with_body(Some(worker::js_sys::Uint8Array::from(body.as_slice()).into()));
        }
        let outbound = Request::new_with_init(&parts.uri.to_string(), &init).map_err(unreachable)?;
        let controller = AbortController::default();
        let (signal, fetch) = (controller.signal(), Fetch::Request(outbound));
        let sent = Box::pin(fetch.send_with_signal(&signal));
        let mut answer = match select(sent, Delay::from(self.timeout)).await {
            Either::Left((answer, _)) => answer.map_err(unreachable)?,
            Either::Right(((), _)) => {
                controller.abort();
                return Err(OriginError::Timeout);
            }
        };
        let mut response = http::Response::builder().status(answer.status_code());
        if let Some(headers) = response.headers_mut() {
            // Every header, in one call; a pair `http` refuses is left out: the core passes back
            // only a few, all valid.
            let lines = header_lines(&answer.headers().0);
            let mut lines = lines.split('\n');
            while let (Some(name), Some(value)) = (lines.next(), lines.next()) {
                if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                    headers.append(name, value);
                }
            }
        }
        let bytes = answer.bytes().await.map_err(unreachable)?;
        response.body(bytes).map_err(|e| OriginError::Unreachable(e.to_string()))
    }

    fn log(&self, line: &str) {
        worker::console_error!("{line}");
    }
}
