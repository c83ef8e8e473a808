# The edge served by workerd itself, the runtime of Cloudflare Workers, outside Cloudflare: the
# `edge` service of docker-compose.yml runs it, and `cargo xtask test` runs it in front of an
# origin with the conformance suite. The bundle beside it (bundle/shim.js, bundle/index_bg.wasm)
# is what `edge/workerd/bundle.sh` makes from `wrangler deploy --dry-run`.
#   workerd serve edge/workerd/config.capnp    (with the variables below in the environment)
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "edge", worker = .edge),
    # The origin is usually on a private address (a compose network, localhost): workerd's
    # default outbound network reaches public addresses only.
    (name = "origin-network", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "*:8787", http = (), service = "edge")],
);

const edge :Workerd.Worker = (
  modules = [
    (name = "shim.js", esModule = embed "bundle/shim.js"),
    (name = "index_bg.wasm", wasm = embed "bundle/index_bg.wasm"),
  ],
  # Keep equal to wrangler.toml's (`cargo xtask test` checks).
  compatibilityDate = "2025-11-01",
  # The same names as wrangler.toml's [vars] and secrets; an unset one is absent (its default
  # applies, or the edge answers 503 "Service misconfigured" and logs which is missing).
  bindings = [
    (name = "ORIGIN_URL", fromEnvironment = "ORIGIN_URL"),
    (name = "ORIGIN_TIMEOUT_MS", fromEnvironment = "ORIGIN_TIMEOUT_MS"),
    (name = "JWT_SECRET", fromEnvironment = "JWT_SECRET"),
    (name = "JWT_KEYS", fromEnvironment = "JWT_KEYS"),
    (name = "JWT_ALG", fromEnvironment = "JWT_ALG"),
    (name = "JWT_ISSUER", fromEnvironment = "JWT_ISSUER"),
    (name = "JWT_AUDIENCE", fromEnvironment = "JWT_AUDIENCE"),
    (name = "ACCESS_TOKEN_TTL_SECS", fromEnvironment = "ACCESS_TOKEN_TTL_SECS"),
    (name = "REFRESH_TOKEN_TTL_SECS", fromEnvironment = "REFRESH_TOKEN_TTL_SECS"),
    (name = "EDGE_SERVICE_TOKEN", fromEnvironment = "EDGE_SERVICE_TOKEN"),
    (name = "CORS_ALLOWED_ORIGINS", fromEnvironment = "CORS_ALLOWED_ORIGINS"),
    (name = "REQUIRE_AAL2", fromEnvironment = "REQUIRE_AAL2"),
    # Unset here: nothing in front of workerd serve writes the client's address, so the edge
    # reports none rather than one the client could choose (set it behind a proxy that does).
    (name = "EDGE_CLIENT_ADDR_HEADER", fromEnvironment = "EDGE_CLIENT_ADDR_HEADER"),
  ],
  globalOutbound = "origin-network",
);
