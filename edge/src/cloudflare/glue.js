// The JS side of the Cloudflare adapter (mod.rs): one call from the wasm to read a request, one to
// answer it, one to read its body and one to ask the origin, so that a request crosses between the
// two a few times, not once per header or chunk.

// The time (Date.now()), the request's method, its URL, then for each name "" if the header is
// absent (`preflightOnly` counts as absent but on OPTIONS) or "=" and its value: one line each
// (the Fetch spec allows no line break in any of them).
export function readHead(request, names, preflightOnly) {
  const headers = request.headers, method = request.method;
  const lines = [String(Date.now()), method, request.url];
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const value = name === preflightOnly && method !== "OPTIONS" ? null : headers.get(name);
    lines.push(value === null ? "" : "=" + value);
  }
  return lines.join("\n");
}

// The request's body, read to its end but no further than `limit` bytes (a body that declares no
// length must not fill memory): a Uint8Array, or null past the limit. Rejects if the stream breaks.
export async function readBody(request, limit) {
  if (request.body === null) return new Uint8Array(0); // No body at all (a DELETE, say).
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) return null;
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

// One request to the origin: `head` as headersOf takes it, `body` a Uint8Array (a view into the
// wasm's memory: copied first; none if empty). Resolves to [status, its headers as
// "name\nvalue\n...", its body as a Uint8Array]; rejects with "timeout" when the answer has not
// begun within `timeoutMs` (the request is then aborted), else with the reason as a string.
export async function askOrigin(method, url, head, body, timeoutMs) {
  body = body.length === 0 ? undefined : body.slice();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    // A redirect goes back to the client as the origin answered it (GET /docs is a 303 to /docs/):
    // followed here, the client would get the target's page at the old address, its relative
    // links broken.
    const response = await fetch(url, {
      method, headers: headersOf(head), body, signal: controller.signal, redirect: "manual",
    });
    clearTimeout(timer);
    const lines = [];
    for (const [name, value] of response.headers) lines.push(name, value);
    return [response.status, lines.join("\n"), new Uint8Array(await response.arrayBuffer())];
  } catch (error) {
    throw timedOut ? "timeout" : String(error);
  } finally {
    clearTimeout(timer);
  }
}

// The headers of an answer as the plain object `new Response` takes (workerd converts it faster
// than pairs or a Headers object): `head` is "name\nvalue\n...", the names lowercase HTTP tokens
// of the edge's own choosing; a repeated name is joined with ", ", as Headers.get would.
export function headersOf(head) {
  const headers = {};
  if (head !== "") {
    const lines = head.split("\n");
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const name = lines[i], earlier = headers[name];
      headers[name] = typeof earlier === "string" ? earlier + ", " + lines[i + 1] : lines[i + 1];
    }
  }
  return headers;
}

// The answer: `headers` from headersOf, possibly one made for an earlier answer (the Response
// copies it at once), with the request id set; `body` a string, a Uint8Array (a view into the
// wasm's memory: copied first) or undefined.
export function respond(status, headers, requestId, body) {
  if (body instanceof Uint8Array) body = body.slice();
  if (requestId !== undefined) headers["x-request-id"] = requestId;
  return new Response(body, { status, headers });
}
