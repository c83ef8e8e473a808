// The JS side of the Cloudflare adapter (mod.rs): one call from the wasm to read a request, one to
// answer it, one to read an origin's headers, so that a request crosses between the two a few
// times, not once per header.

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

// Every header of a Headers object as "name\nvalue\n...", in one string.
export function headerLines(headers) {
  const lines = [];
  for (const [name, value] of headers) lines.push(name, value);
  return lines.join("\n");
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
