//! The Cloudflare Workers adapter: converts the JS `Request` into the core's `http` request
//! (only the headers the core reads), calls [`Edge::handle`], converts the answer back. Each
//! conversion is one call to a small JS helper (`readHead`, `respond`): a call between wasm and JS
//! costs more than the work it does, so a request makes few. The origin is reached with
//! `worker::Fetch`, raced against `ORIGIN_TIMEOUT_MS`.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{self, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::{Either, select};
use wasm_bindgen::prelude::*;
use worker::worker_sys::web_sys;
use worker::{AbortController, Delay, Env, Fetch, Headers, Method, Request, RequestInit};

use crate::{
    BodyError, ConfigError, Edge, EdgeConfig, LazyBody, OriginClient, OriginError, PASSED_BACK, REQUEST_HEADERS,
};

type Built = Result<Rc<Adapter>, ConfigError>;

/// The edge, and whether the host writes the client's address (see [`CLIENT_IP_HEADER`]).
struct Adapter {
    edge: Edge<FetchOrigin>,
    trusts_client_ip: bool,
    /// The names `readHead` reads, as a JS array made once: [`REQUEST_HEADERS`], then
    /// [`CLIENT_IP_HEADER`] where it is trusted (an untrusted one is not even read).
    header_names: worker::js_sys::Array,
    /// The one of them read only on OPTIONS (the core looks at it only there).
    preflight_only: JsValue,
}

thread_local! {
    /// Built at the isolate's first request (a worker sees its bindings only then) and kept.
    static EDGE: OnceCell<Built> = const { OnceCell::new() };
}

fn edge(env: &Env) -> Built {
    EDGE.with(|cell| {
        cell.get_or_init(|| {
            // Vars and secrets are both plain strings on `env`. Read them as such: a binding that
            // is null (workerd's `fromEnvironment` of an unset variable) is simply absent, where
            // the worker crate's `var()` would throw on it and hang the isolate.
            let var = |name: &str| worker::js_sys::Reflect::get(env, &name.into()).ok().and_then(|value| value.as_string());
            let config = EdgeConfig::from_lookup(var)?;
            let trusts_client_ip = match var("EDGE_CLIENT_ADDR_HEADER").as_deref().map(str::trim) {
                None | Some("") => false,
                Some(name) if name.eq_ignore_ascii_case(CLIENT_IP_HEADER) => true,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "EDGE_CLIENT_ADDR_HEADER={other}: on Cloudflare the client's address is in {CLIENT_IP_HEADER}; leave it unset where no host writes it (workerd serve)"
                    )));
                }
            };
            let timeout = Duration::from_millis(config.origin_timeout_ms);
            let header_names: worker::js_sys::Array = REQUEST_HEADERS.iter().map(|name| JsValue::from_str(name)).collect();
            if trusts_client_ip {
                header_names.push(&JsValue::from_str(CLIENT_IP_HEADER));
            }
            Ok(Rc::new(Adapter {
                edge: Edge::new(config, FetchOrigin { timeout }),
                trusts_client_ip,
                header_names,
                preflight_only: JsValue::from_str(http::header::ACCESS_CONTROL_REQUEST_METHOD.as_str()),
            }))
        })
        .clone()
    })
}

/// The worker's fetch handler, exported as `edgeFetch`: `edge/shim.mjs`, the worker's entry, hands
/// it to workerd as the `fetch` of a plain module export (under the name `fetch`, worker-build
/// would wrap it in its per-request entrypoint class instead).
///
/// A request the edge answers without the origin (a refused token, a preflight) is answered
/// synchronously: the core's future is polled once, and only when it waits on something (the
/// origin, a body) does it become a promise. That spares the runtime a promise and its
/// microtasks on the hot path of refusals.
#[wasm_bindgen(js_name = edgeFetch)]
pub fn fetch(request: web_sys::Request, env: Env, _ctx: JsValue) -> JsValue {
    let relay = Arc::new(Relay::default());
    let waker = Waker::from(Arc::clone(&relay));
    let mut answer = Box::pin(serve(request, env));
    match answer.as_mut().poll(&mut task::Context::from_waker(&waker)) {
        Poll::Ready(response) => response,
        Poll::Pending => wasm_bindgen_futures::future_to_promise(async move {
            Ok(std::future::poll_fn(|cx| {
                relay.follow(cx.waker());
                answer.as_mut().poll(cx)
            })
            .await)
        })
        .into(),
    }
}

/// The waker of that first, synchronous poll. Some futures keep the waker they were first polled
/// with (worker's `Delay` sets its timer's callback once, so the origin timeout never fired), so
/// it forwards every wake to the waker of the executor that took the future over.
#[derive(Default)]
struct Relay(Mutex<Option<Waker>>);

impl Relay {
    fn follow(&self, waker: &Waker) {
        if let Ok(mut current) = self.0.lock() {
            *current = Some(waker.clone());
        }
    }
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let current = self.0.lock().ok().and_then(|current| current.clone());
        if let Some(waker) = current {
            waker.wake();
        }
    }
}

/// Where Cloudflare writes the client's address, replacing any the client sent. Trusted only with
/// `EDGE_CLIENT_ADDR_HEADER=cf-connecting-ip` (wrangler.toml): under `workerd serve` nothing
/// writes it, and a client's own value would let it pick the address the origin's limits count.
const CLIENT_IP_HEADER: &str = "cf-connecting-ip";
const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// The answer as the JS `Response` the runtime takes. The request is read in one call (its
/// method, URL and the headers the core reads), never wrapped whole.
async fn serve(request: web_sys::Request, env: Env) -> JsValue {
    let answer = match edge(&env) {
        Ok(adapter) => {
            let head = read_head(&request, &adapter.header_names, &adapter.preflight_only);
            // A header value the Fetch spec allows but `http` refuses (a control byte) is the
            // client's mistake: answered like any bad request, never a thrown exception.
            match to_http(&head, adapter.trusts_client_ip) {
                Some((head, client_ip, now)) => {
                    adapter.edge.handle(head.map(|()| CloudflareBody { request }), client_ip, now).await
                }
                None => crate::respond::error(http::StatusCode::BAD_REQUEST, "Bad Request"),
            }
        }
        Err(err) => {
            // The operator reads the reason in the log; the client learns only that it is not up.
            worker::console_error!("{err}");
            crate::respond::error(http::StatusCode::SERVICE_UNAVAILABLE, "Service misconfigured")
        }
    };
    to_js(answer).unwrap_or_else(|err| {
        worker::console_error!("edge: building the response: {err:?}");
        JsValue::UNDEFINED
    })
}

/// The method, path and query, and the few headers the core reads (the body stays in the
/// request), the client's address (read only where trusted) and the time in seconds; from
/// `readHead`'s lines.
fn to_http(head: &str, reads_client_ip: bool) -> Option<(http::Request<()>, Option<&str>, u64)> {
    let mut lines = head.split('\n');
    let now = lines.next()?.parse::<u64>().ok()? / 1000;
    let method = lines.next()?;
    let url = lines.next()?;
    // A serialized request URL always has a path after its authority: everything from the first
    // `/` after `://` is the path and query (a request URL carries no fragment).
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_and_query = url[after_scheme..].find('/').map_or("/", |slash| &url[after_scheme + slash..]);
    let mut request = http::Request::builder().method(method).uri(path_and_query);
    // "" for an absent header, "=" and the value for a present one.
    for name in REQUEST_HEADERS {
        if let Some(value) = lines.next()?.strip_prefix('=') {
            request = request.header(name, value);
        }
    }
    let client_ip = if reads_client_ip { lines.next()?.strip_prefix('=') } else { None };
    // One line per name, no more: no value had a line break (the Fetch spec allows none).
    if lines.next().is_some() {
        return None;
    }
    Some((request.body(()).ok()?, client_ip, now))
}

#[wasm_bindgen(inline_js = r#"
// The JS side of the adapter: one call from the wasm to read a request, one to answer it, so that
// a request crosses between the two a few times, not once per header.

// The time (Date.now()), the request's method, its URL, then for each name "" if the header is
// absent (`preflightOnly` counts as absent but on OPTIONS) or "=" and its value: one line each
// (the Fetch spec allows no line break in any of them).
export function readHead(request, names, preflightOnly) {
  const headers = request.headers, method = request.method;
  const lines = [String(Date.now()), method, request.url];
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const value = name === preflightOnly && method !== "OPTIONS" ? null : headers.get(name);
    lines.push(value === null ? "" : "=" + value);
  }
  return lines.join("\n");
}

// The headers of an answer as the plain object `new Response` takes (workerd converts it faster
// than pairs or a Headers object): `head` is "name\nvalue\n...", the names lowercase HTTP tokens
// of the edge's own choosing; a repeated name is joined with ", ", as Headers.get would.
export function headersOf(head) {
  const headers = {};
  if (head !== "") {
    const lines = head.split("\n");
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const name = lines[i], earlier = headers[name];
      headers[name] = typeof earlier === "string" ? earlier + ", " + lines[i + 1] : lines[i + 1];
    }
  }
  return headers;
}

// The answer: `headers` from headersOf, possibly one made for an earlier answer (the Response
// copies it at once), with the request id set; `body` a string, a Uint8Array (a view into the
// wasm's memory: copied first) or undefined.
export function respond(status, headers, requestId, body) {
  if (body instanceof Uint8Array) body = body.slice();
  if (requestId !== undefined) headers["x-request-id"] = requestId;
  return new Response(body, { status, headers });
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = readHead)]
    fn read_head(request: &web_sys::Request, names: &worker::js_sys::Array, preflight_only: &JsValue) -> String;
    #[wasm_bindgen(js_name = headersOf)]
    fn headers_of(head: &str) -> JsValue;
    /// A response with a text body, or none.
    #[wasm_bindgen(catch, js_name = respond)]
    fn respond_text(
        status: u16,
        headers: &JsValue,
        request_id: Option<&str>,
        body: Option<&str>,
    ) -> Result<JsValue, JsValue>;
    /// A response with a body of bytes.
    #[wasm_bindgen(catch, js_name = respond)]
    fn respond_bytes(status: u16, headers: &JsValue, request_id: Option<&str>, body: &[u8])
    -> Result<JsValue, JsValue>;
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
fn to_js(answer: http::Response<Vec<u8>>) -> Result<JsValue, JsValue> {
    let (parts, body) = answer.into_parts();
    // The request id (one per answer, the core sets it) is set apart: it changes every time.
    let mut ids = parts.headers.get_all(&REQUEST_ID).iter();
    let request_id = match (ids.next(), ids.next()) {
        (Some(id), None) => id.to_str().ok(),
        _ => None,
    };
    let mut head = String::with_capacity(256);
    for (name, value) in &parts.headers {
        // `to_str` passes visible ASCII only: no line break can split the list.
        let Ok(value) = value.to_str() else { continue };
        if request_id.is_some() && name == REQUEST_ID {
            continue;
        }
        if !head.is_empty() {
            head.push('\n');
        }
        head.push_str(name.as_str());
        head.push('\n');
        head.push_str(value);
    }
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

/// The request's body, read (and the request wrapped for it) only when the core asks.
struct CloudflareBody {
    request: web_sys::Request,
}

impl LazyBody for CloudflareBody {
    async fn read(self, limit: usize) -> Result<Vec<u8>, BodyError> {
        let declared =
            self.request.headers().get("content-length").ok().flatten().and_then(|n| n.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(BodyError::TooLarge);
        }
        if self.request.body().is_none() {
            return Ok(Vec::new()); // No body at all (a DELETE, say): nothing to stream.
        }
        // A chunked body declares no length: read it a chunk at a time and stop past the limit,
        // so a huge upload cannot fill the isolate's memory.
        let mut request = Request::from(self.request);
        let mut chunks = request.stream().map_err(|_| BodyError::Unreadable)?;
        let mut bytes = Vec::new();
        while let Some(chunk) = chunks.next().await {
            bytes.extend_from_slice(&chunk.map_err(|_| BodyError::Unreadable)?);
            if bytes.len() > limit {
                return Err(BodyError::TooLarge);
            }
        }
        Ok(bytes)
    }
}

struct FetchOrigin {
    timeout: Duration,
}

impl OriginClient for FetchOrigin {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OriginError> {
        let context = crate::FailureContext::of(&request);
        let answer = self.exchange(request).await;
        if let Err(err) = &answer {
            worker::console_error!("{}", context.line(err));
        }
        answer
    }
}

impl FetchOrigin {
    async fn exchange(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OriginError> {
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
        let signal = controller.signal();
        let fetch = Fetch::Request(outbound);
        let sent = Box::pin(fetch.send_with_signal(&signal));
        let mut answer = match select(sent, Delay::from(self.timeout)).await {
            Either::Left((answer, _)) => answer.map_err(unreachable)?,
            Either::Right(((), _)) => {
                controller.abort();
                return Err(OriginError::Timeout);
            }
        };
        let mut response = http::Response::builder().status(answer.status_code());
        for name in PASSED_BACK {
            if let Ok(Some(value)) = answer.headers().get(name) {
                response = response.header(name, value);
            }
        }
        let bytes = answer.bytes().await.map_err(unreachable)?;
        response.body(bytes).map_err(|e| OriginError::Unreachable(e.to_string()))
    }
}
