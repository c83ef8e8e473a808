// The worker's entry (wrangler.toml `main`): a plain module export, as a JavaScript worker has,
// whose `fetch` is the wasm's fetch handler itself (`edgeFetch`, edge/src/cloudflare/mod.rs).
//
// worker-build's bundle, edge/build/index.js (`cargo xtask edge-build`), exports a
// `WorkerEntrypoint` class behind proxies as its default: with it as the entry, workerd makes an
// instance per request and reaches `fetch` through three proxy traps. Importing the bundle still
// does all of its once-per-isolate setup: it instantiates the wasm (index_bg.wasm, which wrangler
// and workerd hand over as a compiled WebAssembly.Module) and runs its start function (the worker
// crate's panic hook and abort handler). Every call goes through wasm-bindgen's glue, which marks
// the instance dead when the wasm traps (a Rust panic aborts) and replaces it with a fresh one on
// the next call; the exception itself reaches workerd, which answers 500.
//
// worker-build sets each wasm-bindgen export other than the event handlers (fetch, queue, ...) on
// the class's prototype as it is, the glue's own function: that is where `edgeFetch` is read.
import Entrypoint from "./build/index.js";

const edgeFetch = Entrypoint.prototype.edgeFetch;
if (typeof edgeFetch !== "function") {
  throw new Error("edge/shim.mjs: edge/build/index.js has no edgeFetch export; rebuild it (cargo xtask edge-build)");
}

// workerd calls fetch(request, env, ctx); the glue passes the three on to the wasm unchanged.
export default { fetch: edgeFetch };
