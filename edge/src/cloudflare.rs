//! The Cloudflare Workers adapter: converts a `worker::Request` into the core's `http` request
//! (only the headers the core reads), calls [`Edge::handle`], converts the answer back. The origin
//! is reached with `worker::Fetch`, raced against `ORIGIN_TIMEOUT_MS`.

use std::cell::OnceCell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::{Either, select};
use worker::{AbortController, Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit, Response, event};

use crate::{
    BodyError, ConfigError, Edge, EdgeConfig, LazyBody, OriginClient, OriginError, PASSED_BACK, REQUEST_HEADERS,
};

type Built = Result<Rc<Edge<FetchOrigin>>, ConfigError>;

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
            let config = EdgeConfig::from_lookup(|name| {
                worker::js_sys::Reflect::get(env, &name.into()).ok().and_then(|value| value.as_string())
            })?;
            let timeout = Duration::from_millis(config.origin_timeout_ms);
            Ok(Rc::new(Edge::new(config, FetchOrigin { timeout })))
        })
        .clone()
    })
}

#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let edge = match edge(&env) {
        Ok(edge) => edge,
        Err(err) => {
            // The operator reads the reason in the log; the client learns only that it is not up.
            worker::console_error!("{err}");
            return from_http(crate::respond::error(http::StatusCode::SERVICE_UNAVAILABLE, "Service misconfigured"));
        }
    };
    // A header value the Fetch spec allows but `http` refuses (a control byte) is the client's
    // mistake: answered like any bad request, never a thrown exception (Cloudflare's own 500).
    let Ok(head) = to_http(&request) else {
        return from_http(crate::respond::error(http::StatusCode::BAD_REQUEST, "Bad Request"));
    };
    let client_ip = request.headers().get("cf-connecting-ip")?;
    let now = worker::Date::now().as_millis() / 1000;
    let answer = edge.handle(head.map(|()| CloudflareBody(request)), client_ip.as_deref(), now).await;
    from_http(answer)
}

/// The method, URL and the few headers the core reads; the body stays in the worker request.
fn to_http(request: &Request) -> worker::Result<http::Request<()>> {
    let url = request.url()?;
    let path_and_query = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let mut head = http::Request::builder().method(request.method().as_ref()).uri(path_and_query);
    for name in REQUEST_HEADERS {
        if let Some(value) = request.headers().get(name)? {
            head = head.header(name, value);
        }
    }
    head.body(()).map_err(|e| worker::Error::RustError(e.to_string()))
}

fn from_http(answer: http::Response<Vec<u8>>) -> worker::Result<Response> {
    let (parts, body) = answer.into_parts();
    let headers = Headers::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers.append(name.as_str(), value)?;
        }
    }
    // No body is a null body: workerd refuses even an empty one on 204 and 304.
    let response = if body.is_empty() { Response::empty()? } else { Response::from_bytes(body)? };
    Ok(response.with_status(parts.status.as_u16()).with_headers(headers))
}

struct CloudflareBody(Request);

impl LazyBody for CloudflareBody {
    async fn read(mut self, limit: usize) -> Result<Vec<u8>, BodyError> {
        let declared = self.0.headers().get("content-length").ok().flatten().and_then(|n| n.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(BodyError::TooLarge);
        }
        // A chunked body declares no length: read it a chunk at a time and stop past the limit,
        // so a huge upload cannot fill the isolate's memory.
        if self.0.inner().body().is_none() {
            return Ok(Vec::new()); // No body at all (a DELETE, say): nothing to stream.
        }
        let mut chunks = self.0.stream().map_err(|_| BodyError::Unreadable)?;
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
