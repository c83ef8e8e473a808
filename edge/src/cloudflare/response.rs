//! The core's answer as the JS `Response` the runtime takes, made in one call to the glue
//! (`respond`), with the header objects of answers given again and again kept.

use std::cell::RefCell;
use std::collections::HashMap;

use http::{HeaderMap, HeaderName};
use shared::contract::http_header::REQUEST_ID;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/cloudflare/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = headersOf)]
    fn headers_of(head: &str) -> JsValue;
    /// A response with a text body, or none.
    #[wasm_bindgen(catch, js_name = respond)]
    fn respond_text(status: u16, headers: &JsValue, id: Option<&str>, body: Option<&str>) -> Result<JsValue, JsValue>;
    /// A response with a body of bytes.
    #[wasm_bindgen(catch, js_name = respond)]
    fn respond_bytes(status: u16, headers: &JsValue, id: Option<&str>, body: &[u8]) -> Result<JsValue, JsValue>;
}

thread_local! {
    /// The JS header objects of earlier answers, by their headers but the request id: the answers
    /// the edge gives again and again (refusals, preflights) cross into JS as a reference, not as a
    /// string to decode and split. At most [`HEADS_KEPT`] are kept; others are made each time.
    static HEADS: RefCell<HashMap<String, JsValue>> = RefCell::new(HashMap::new());
}
const HEADS_KEPT: usize = 64;

/// The core's answer as a JS `Response`. A UTF-8 body with its content type goes as a string,
/// which workerd takes more cheaply than a buffer; without a content type it goes as bytes (a
/// string body would gain `text/plain`).
pub fn to_js(answer: http::Response<Vec<u8>>) -> Result<JsValue, JsValue> {
    let (parts, body) = answer.into_parts();
    // The request id (one per answer, the core sets it) is set apart: it changes every time.
    let mut ids = parts.headers.get_all(&REQUEST_ID).iter();
    let request_id = match (ids.next(), ids.next()) {
        (Some(id), None) => id.to_str().ok(),
        _ => None,
    };
    let head = lines_of(&parts.headers, request_id.is_some().then_some(&REQUEST_ID));
    // Only an object that gets its request id set each time may serve again.
    let headers = match request_id {
        Some(_) => HEADS.with_borrow_mut(|kept| {
            if let Some(headers) = kept.get(&head) {
                return headers.clone();
            }
            let headers = headers_of(&head);
            if kept.len() < HEADS_KEPT {
                kept.insert(head, headers.clone());
            }
            headers
        }),
        None => headers_of(&head),
    };
    let status = parts.status.as_u16();
    // No body is a null body: workerd refuses even an empty one on 204 and 304.
    if body.is_empty() {
        return respond_text(status, &headers, request_id, None);
    }
    match std::str::from_utf8(&body) {
        Ok(text) if parts.headers.contains_key(http::header::CONTENT_TYPE) => {
            respond_text(status, &headers, request_id, Some(text))
        }
        _ => respond_bytes(status, &headers, request_id, &body),
    }
}

/// The headers as `headersOf` takes them, "name\nvalue\n...", but `skipped`.
pub fn lines_of(headers: &HeaderMap, skipped: Option<&HeaderName>) -> String {
    let mut head = String::with_capacity(256);
    for (name, value) in headers {
        // `to_str` passes visible ASCII only: no line break can split the list.
        let Ok(value) = value.to_str() else { continue };
        if skipped == Some(name) {
            continue;
        }
        if !head.is_empty() {
            head.push('\n');
        }
        head.push_str(name.as_str());
        head.push('\n');
        head.push_str(value);
    }
    head
}
