//! The first poll of a request's answer, made synchronously, and the waker that relays wakes from
//! it to the executor that takes the answer over when it has to wait.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{self, Poll, Wake, Waker};

use wasm_bindgen::JsValue;

/// `answer`, polled once now: a request the edge answers without the origin (a refused token, a
/// preflight) is answered synchronously, and only an answer that waits on something (the origin,
/// a body) becomes a promise. That spares the runtime a promise and its microtasks on the hot path
/// of refusals.
pub fn now_or_promise(answer: impl Future<Output = JsValue> + 'static) -> JsValue {
    let relay = Arc::new(Relay::default());
    let waker = Waker::from(Arc::clone(&relay));
    let mut answer = Box::pin(answer);
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
