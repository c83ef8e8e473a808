// Baseline (c) of bench/edge/run.sh: the smallest worker that checks the edge's access token the
// way the edge does, with the `jose` library: HS256 only, the same issuer and audience, typ
// "access". 200 for a good token, 401 otherwise; nothing is forwarded.
//
// KEY_MODE "cached" (the baseline): the CryptoKey is imported once per isolate, as a careful JS
// worker would, so a request costs one HMAC and the JSON. KEY_MODE "raw": the secret goes to
// jwtVerify as bytes, as jose's README shows, and jose imports the key on every request.
import { jwtVerify } from "jose";

let cryptoKey; // Promise<CryptoKey>, made at the isolate's first request (bindings arrive with it)
let rawKey;

function keyFor(env) {
  if (env.KEY_MODE === "raw") {
    rawKey ??= new TextEncoder().encode(env.JWT_SECRET);
    return rawKey;
  }
  cryptoKey ??= crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(env.JWT_SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  return cryptoKey;
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
      const { payload } = await jwtVerify(token, await keyFor(env), {
        algorithms: ["HS256"],
        issuer: env.JWT_ISSUER,
        audience: env.JWT_AUDIENCE,
        clockTolerance: 30,
      });
      if (payload.typ !== "access") return unauthorized();
      return Response.json({ sub: payload.sub, username: payload.username });
    } catch {
      return unauthorized();
    }
  },
};
