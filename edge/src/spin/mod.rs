//! The Spin / WASI HTTP adapter (wasm32-wasip2, WASI 0.2.0 as spin-sdk 5 speaks it): converts the
//! incoming `wasi:http` request into the core's `http` request (only the headers the core reads,
//! the body left unread until the core asks), calls [`Edge::handle`], converts the answer back.
//! The origin is reached with `wasi:http/outgoing-handler`, under one deadline of
//! `ORIGIN_TIMEOUT_MS`. The handler runs on spin-sdk's executor, which waits on wasi:io pollables.
//!
//! The same component runs under `spin up` and `wasmtime serve -Scli`. Configuration comes from
//! environment variables only: Spin's variables interface would make wasmtime refuse it.
//!
//! The export is `wasi::http::proxy::export!`, not `#[spin_sdk::http_component]`: that attribute
//! expands wit-bindgen's `#[export_name]`/`unsafe extern` glue as a macro local to this crate,
//! which the workspace's `forbid(unsafe_code)` refuses; the `wasi` crate's macro is the same glue
//! (`wasi:http/incoming-handler@0.2.0#handle`) kept inside that crate.

mod origin;
mod wasi_io;

use std::cell::OnceCell;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderName;
use wasi::http::types::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};

use crate::{BodyError, ConfigError, Edge, EdgeConfig, HostAddr, LazyBody};
use origin::WasiOrigin;
use wasi_io::ReadError;

thread_local! {
    /// Built at the instance's first request and kept for as long as the host keeps the instance.
    static EDGE: OnceCell<Result<Rc<Edge<WasiOrigin>>, ConfigError>> = const { OnceCell::new() };
}

fn edge() -> Result<Rc<Edge<WasiOrigin>>, ConfigError> {
    EDGE.with(|cell| {
        cell.get_or_init(|| {
            // A WASI host writes the client's address where the operator says (`spin-client-addr`
            // under Spin, which spin.toml names; `wasmtime serve` writes none).
            let config = EdgeConfig::from_lookup(|name| std::env::var(name).ok(), HostAddr::Named)?;
            let timeout_ns = config.origin_timeout_ms.saturating_mul(1_000_000);
            Ok(Rc::new(Edge::new(config, WasiOrigin::new(timeout_ns))))
        })
        .clone()
    })
}

struct Component;

wasi::http::proxy::export!(Component);

impl wasi::exports::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        spin_sdk::http::run(serve(request, response_out));
    }
}

async fn serve(request: IncomingRequest, response_out: ResponseOutparam) {
    let answer = match edge() {
        Ok(edge) => match to_http(&request, edge.request_headers()) {
            Some(head) => edge.handle(head.map(|()| SpinBody(request)), now_secs()).await,
            None => crate::malformed(),
        },
        Err(err) => crate::misconfigured(&err, |line| eprintln!("{line}")),
    };
    respond(response_out, answer).await;
}

#[allow(clippy::disallowed_methods, reason = "the adapter's one read of the clock, for the core to judge tokens by")]
fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// The method, path and the headers the core reads; the body stays in the request.
fn to_http<'a>(request: &IncomingRequest, names: impl Iterator<Item = &'a HeaderName>) -> Option<http::Request<()>> {
    let path_and_query = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let mut head = http::Request::builder().method(wasi_io::http_method(&request.method())?).uri(path_and_query);
    let fields = request.headers();
    for name in names {
        for value in fields.get(&name.as_str().to_owned()) {
            head = head.header(name, value);
        }
    }
    drop(fields);
    head.body(()).ok()
}

/// Writes the core's answer as the response.
async fn respond(response_out: ResponseOutparam, answer: http::Response<Vec<u8>>) {
    let (parts, body) = answer.into_parts();
    // The core makes only valid headers; one the host refuses is left out, not fatal.
    let fields = Fields::new();
    for (name, value) in &parts.headers {
        let _ = fields.append(&name.as_str().to_owned(), &value.as_bytes().to_vec());
    }
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(parts.status.as_u16());
    let Ok(response_body) = response.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    // The client went away, or the host refused: nothing left to tell anyone but the log.
    if let Err(err) = wasi_io::write_body(response_body, &body, None).await {
        eprintln!("edge: could not send the response: {err:?}");
    }
}

/// The incoming request, kept whole until the core asks for its body.
struct SpinBody(IncomingRequest);

impl LazyBody for SpinBody {
    fn declared_length(&self) -> Option<String> {
        let values = self.0.headers().get(&http::header::CONTENT_LENGTH.as_str().to_owned());
        values.into_iter().next().and_then(|length| String::from_utf8(length).ok())
    }

    async fn read(self, limit: usize) -> Result<Vec<u8>, BodyError> {
        let body = self.0.consume().map_err(|()| BodyError::Unreadable)?;
        wasi_io::read_body(body, limit, None).await.map_err(|err| match err {
            ReadError::TooLarge => BodyError::TooLarge,
            _ => BodyError::Unreadable,
        })
    }
}
