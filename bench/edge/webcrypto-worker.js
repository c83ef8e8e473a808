// Baseline of bench/edge/run.sh: jose-worker.js's contract with no library, straight on WebCrypto,
// as a careful hand-written worker would check the edge's access token, and with jose's answer to
// every token: HS256 only (the header's "crit" as jose allows it: only ["b64"] with b64 true), the
// signature by crypto.subtle.verify with a CryptoKey imported once per isolate, base64url decoded
// as jose does (Uint8Array.fromBase64 where the runtime has it), then the claims as jose checks
// them: iss equal to JWT_ISSUER, aud equal to (or, an array, holding) JWT_AUDIENCE, nbf and exp
// with 30 s of leeway (numbers when present, as iat), typ "access". 200 {sub, username} for a good
// token; otherwise the same 401 as the jose worker's.
let cryptoKey; // Promise<CryptoKey>, made at the isolate's first request (bindings arrive with it)

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const LEEWAY_SECS = 30;

function keyFor(env) {
  cryptoKey ??= crypto.subtle.importKey(
    "raw",
    encoder.encode(env.JWT_SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  return cryptoKey;
}

function bytesOf(part) { // base64url, as jose decodes it; throws on anything else
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(part, { alphabet: "base64url" });
  if (part.includes("+") || part.includes("/")) throw new Error("not base64url");
  const binary = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function objectOf(part) { // a base64url JSON object; throws on anything else
  const value = JSON.parse(decoder.decode(bytesOf(part)));
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
  return value;
}

// jose's rule for a JWT: no "crit", or a list of "b64" only (repeats allowed) and a b64 of true.
const critAllowed = ({ crit, b64 }) =>
  crit === undefined || (Array.isArray(crit) && crit.length > 0 && crit.every((name) => name === "b64") && b64 === true);

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);

async function claimsOf(token, env) { // the verified claims, or null
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  const [header, payload, signature] = parts;
  const protectedHeader = objectOf(header);
  if (protectedHeader.alg !== "HS256" || !critAllowed(protectedHeader)) return null;
  const signed = encoder.encode(`${header}.${payload}`);
  if (!(await crypto.subtle.verify("HMAC", await keyFor(env), bytesOf(signature), signed))) return null;
  const claims = objectOf(payload);
  if (claims.iss !== env.JWT_ISSUER) return null;
  const aud = claims.aud;
  if (!(aud === env.JWT_AUDIENCE || (Array.isArray(aud) && aud.includes(env.JWT_AUDIENCE)))) return null;
  const now = Math.floor(Date.now() / 1000);
  for (const claim of ["iat", "nbf", "exp"]) {
    if (claims[claim] !== undefined && !isNumber(claims[claim])) return null;
  }
  if (claims.nbf !== undefined && claims.nbf > now + LEEWAY_SECS) return null;
  if (claims.exp !== undefined && claims.exp <= now - LEEWAY_SECS) return null;
  if (claims.typ !== "access") return null;
  return claims;
}

const unauthorized = () =>
  new Response('{"detail":"Invalid or expired token"}', {
    status: 401,
    headers: { "content-type": "application/json", "www-authenticate": "Bearer" },
  });

export default {
  async fetch(request, env) {
    const header = request.headers.get("authorization") ?? "";
    const [scheme, token] = header.split(" ", 2);
    if (scheme?.toLowerCase() !== "bearer" || !token) return unauthorized();
    try {
      const claims = await claimsOf(token, env);
      if (claims === null) return unauthorized();
      return Response.json({ sub: claims.sub, username: claims.username });
    } catch {
      return unauthorized();
    }
  },
};
