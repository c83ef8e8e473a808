//! The Cloudflare Workers adapter: converts the JS `Request` into the core's `http` request (only
//! the headers the core reads), calls [`Edge::handle`], converts the answer back. Each conversion
//! (the head, the answer, the body, a call to the origin) is one call to the JS glue, glue.js: a
//! call between wasm and JS costs more than the work it does, so a request makes few.

mod origin;
mod relay;
mod response;

use std::cell::OnceCell;
use std::rc::Rc;

use http::HeaderName;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use worker::Env;
use worker::js_sys::{Array, Promise, Reflect, Uint8Array};
use worker::worker_sys::web_sys;

use crate::{BodyError, ConfigError, Edge, EdgeConfig, HostAddr, LazyBody};
use origin::FetchOrigin;

/// The edge, and the names `readHead` reads ([`Edge::request_headers`]) as a JS array made once.
struct Adapter {
    edge: Edge<FetchOrigin>,
    header_names: Array,
    /// The one of them read only on OPTIONS (the core looks at it only there).
    preflight_only: JsValue,
}

/// Where Cloudflare writes the client's address, replacing any the client sent.
const CLIENT_ADDR: HeaderName = HeaderName::from_static("cf-connecting-ip");

thread_local! {
    /// Built at the isolate's first request (a worker sees its bindings only then) and kept.
    static ADAPTER: OnceCell<Result<Rc<Adapter>, ConfigError>> = const { OnceCell::new() };
}

fn adapter(env: &Env) -> Result<Rc<Adapter>, ConfigError> {
    ADAPTER.with(|cell| {
        cell.get_or_init(|| {
            // Vars and secrets are both plain strings on `env`. Read them as such: a binding that
            // is null (workerd's `fromEnvironment` of an unset variable) is simply absent, where
            // the worker crate's `var()` would throw on it and hang the isolate.
            let var = |name: &str| Reflect::get(env, &name.into()).ok().and_then(|value| value.as_string());
            let config = EdgeConfig::from_lookup(var, HostAddr::Only(CLIENT_ADDR))?;
            let timeout_ms = u32::try_from(config.origin_timeout_ms).unwrap_or(u32::MAX);
            let edge = Edge::new(config, FetchOrigin::new(timeout_ms));
            let header_names = edge.request_headers().map(|name| JsValue::from_str(name.as_str())).collect();
            let preflight_only = JsValue::from_str(http::header::ACCESS_CONTROL_REQUEST_METHOD.as_str());
            Ok(Rc::new(Adapter { edge, header_names, preflight_only }))
        })
        .clone()
    })
}

/// The worker's fetch handler, exported as `edgeFetch`: `edge/shim.mjs`, the worker's entry, hands
/// it to workerd as the `fetch` of a plain module export (under the name `fetch`, worker-build
/// would wrap it in its per-request entrypoint class instead). Answered synchronously where it can.
#[wasm_bindgen(js_name = edgeFetch)]
pub fn fetch(request: web_sys::Request, env: Env, _ctx: JsValue) -> JsValue {
    relay::now_or_promise(serve(request, env))
}

/// The answer as the JS `Response` the runtime takes. The request is read in one call (its
/// method, URL and the headers the core reads), never wrapped whole.
async fn serve(request: web_sys::Request, env: Env) -> JsValue {
    let answer = match adapter(&env) {
        Ok(adapter) => {
            let head = read_head(&request, &adapter.header_names, &adapter.preflight_only);
            match to_http(&head, adapter.edge.request_headers()) {
                Some((head, now)) => adapter.edge.handle(head.map(|()| CloudflareBody(request)), now).await,
                None => crate::malformed(),
            }
        }
        Err(err) => crate::misconfigured(&err, |line| worker::console_error!("{line}")),
    };
    response::to_js(answer).unwrap_or_else(|err| {
        worker::console_error!("edge: building the response: {err:?}");
        JsValue::UNDEFINED
    })
}

/// The request without its body, and the time in seconds, from `readHead`'s lines.
fn to_http<'a>(head: &str, names: impl Iterator<Item = &'a HeaderName>) -> Option<(http::Request<()>, u64)> {
    let mut lines = head.split('\n');
    let now = lines.next()?.parse::<u64>().ok()? / 1000;
    let method = lines.next()?;
    let url = lines.next()?;
    // A serialized request URL always has a path after its authority: everything from the first
    // `/` after `://` is the path and query (a request URL carries no fragment).
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_and_query = url[after_scheme..].find('/').map_or("/", |slash| &url[after_scheme + slash..]);
    let mut request = http::Request::builder().method(method).uri(path_and_query);
    for name in names {
        if let Some(value) = lines.next()?.strip_prefix('=') {
            request = request.header(name, value);
        }
    }
    // One line per name, no more: no value had a line break (the Fetch spec allows none).
    if lines.next().is_some() {
        return None;
    }
    Some((request.body(()).ok()?, now))
}

#[wasm_bindgen(module = "/src/cloudflare/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = readHead)]
    fn read_head(request: &web_sys::Request, names: &Array, preflight_only: &JsValue) -> String;
    /// Settles with the body, or null past `limit`.
    #[wasm_bindgen(js_name = readBody)]
    fn read_body(request: &web_sys::Request, limit: usize) -> Promise;
}

/// The request's body, read only when the core asks.
struct CloudflareBody(web_sys::Request);

impl LazyBody for CloudflareBody {
    fn declared_length(&self) -> Option<String> {
        self.0.headers().get(http::header::CONTENT_LENGTH.as_str()).ok().flatten()
    }

    async fn read(self, limit: usize) -> Result<Vec<u8>, BodyError> {
        let bytes = JsFuture::from(read_body(&self.0, limit)).await.map_err(|_| BodyError::Unreadable)?;
        if bytes.is_null() { Err(BodyError::TooLarge) } else { Ok(bytes.unchecked_into::<Uint8Array>().to_vec()) }
    }
}
