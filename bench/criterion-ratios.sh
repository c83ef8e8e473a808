#!/usr/bin/env bash
# The ratios of the last criterion run of shared's benches (tokens, passwords), read from
# target/criterion/*/*/new/estimates.json: each of ours beside its baseline of the same run.
#
#   cargo bench -p shared --features jwt,hashing --bench tokens
#   cargo bench -p shared --features jwt,hashing --bench passwords
#   bench/criterion-ratios.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${CARGO_TARGET_DIR:-$ROOT/target}/criterion"
command -v jq >/dev/null || { echo "criterion-ratios.sh: jq is not on PATH" >&2; exit 1; }

# Mean and its 95% interval of group/bench, in nanoseconds ("- - -" when not measured).
estimate() {
  local file="$DIR/$1/new/estimates.json"
  if [ -f "$file" ]; then
    jq -r '.mean | "\(.point_estimate) \(.confidence_interval.lower_bound) \(.confidence_interval.upper_bound)"' "$file"
  else
    echo "- - -"
  fi
}

human() { # nanoseconds to a short figure
  awk -v ns="$1" 'BEGIN {
    if (ns == "-") { print "-"; exit }
    if (ns >= 1e6) printf "%.2f ms", ns / 1e6; else if (ns >= 1e3) printf "%.3f µs", ns / 1e3; else printf "%.1f ns", ns
  }'
}

# ours, baseline, target (max ratio; "-" for none)
compare() {
  local ours theirs target="$3" o t
  read -r o _ _ <<<"$(estimate "$1")"
  read -r t _ _ <<<"$(estimate "$2")"
  if [ "$o" = - ] || [ "$t" = - ]; then
    printf '%-48s %12s  %-44s %12s\n' "$1" "$(human "$o")" "$2" "$(human "$t")"
    return
  fi
  ours="$(human "$o")"; theirs="$(human "$t")"
  local ratio verdict=""
  ratio="$(awk -v a="$o" -v b="$t" 'BEGIN { printf "%.2f", a / b }')"
  if [ "$target" != - ]; then
    verdict="$(awk -v r="$ratio" -v m="$target" 'BEGIN { print (r <= m ? "met" : "MISSED") }') (target <= ${target}x)"
  fi
  printf '%-48s %12s  %-44s %12s  x%s %s\n' "$1" "$ours" "$2" "$theirs" "$ratio" "$verdict"
}

echo "Criterion means from $DIR (ratio = ours / baseline; lower is faster)"
compare hs256_issue/shared_issue_access hs256_issue/jsonwebtoken_issue_access -
compare hs256_verify/shared_verify_access hs256_verify/jsonwebtoken_verify_access 1.5
compare hs256_verify/shared_verify_access hs256_verify/jsonwebtoken_verify_access_by_kid -
compare hs256_verify_parts/jwt_simple_verify_token hs256_verify/jsonwebtoken_verify_access -
compare hs256_verify_parts/ct_codecs_b64_claims_and_tag hs256_verify_parts/base64_b64_claims_and_tag -
compare hs256_verify_parts/hmac_sha256_crate_tag hs256_verify_parts/rustcrypto_hmac_sha2_tag -
compare hs256_verify_parts/hmac_sha256_crate_tag hs256_verify_parts/ring_hmac_tag -
compare hs256_verify_parts/serde_json_claims_flattened hs256_verify_parts/serde_json_claims_flat -
compare pbkdf2_sha256_600k/shared_hash_with_salt pbkdf2_sha256_600k/ring_derive 1.3
compare pbkdf2_sha256_600k/shared_verify pbkdf2_sha256_600k/ring_verify 1.3
compare pbkdf2_sha256_600k/pbkdf2_crate_raw pbkdf2_sha256_600k/ring_derive -
read -r decode _ _ <<<"$(estimate hs256_verify_parts/jwt_simple_decode_metadata)"
read -r verify _ _ <<<"$(estimate hs256_verify/shared_verify_access)"
if [ "$decode" != - ] && [ "$verify" != - ]; then
  echo "shared's header pre-pass (Token::decode_metadata): $(human "$decode")," \
    "$(awk -v a="$decode" -v b="$verify" 'BEGIN { printf "%.0f%%", 100 * a / b }') of shared_verify_access"
fi
read -r hash _ _ <<<"$(estimate pbkdf2_sha256_600k/shared_verify)"
if [ "$hash" != - ]; then
  echo "One 600k hash (shared_verify): $(human "$hash"); $(nproc) cores allow" \
    "$(awk -v n="$(nproc)" -v ns="$hash" 'BEGIN { printf "%.1f", n * 1e9 / ns }') logins/s;" \
    "SHA extensions: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)"
fi
