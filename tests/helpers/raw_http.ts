/**
 * A GET written and read on a socket of its own, as a browser sends one (origin form, the
 * name in `Host`): names under `.localhost` need no resolving, and the answer comes as the
 * host sent it (status line, header spelling, chunked framing).
 *
 * @module
 */

/** An answer as it came over the wire. */
export interface RawAnswer {
  /** The status code. */
  status: number;
  /** The status line and headers, each line ending in CRLF. */
  head: string;
  /** Everything after the blank line, framing included. */
  body: string;
}

/** Sends `GET path` for `host` to `127.0.0.1:port` (`Connection: close`) and reads it all. */
export async function rawGet(port: number, host: string, path = "/"): Promise<RawAnswer> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  await connection.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
  );
  const text = await new Response(connection.readable).text();
  const end = text.indexOf("\r\n\r\n");
  const head = end === -1 ? text : text.slice(0, end + 2);
  return {
    status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0),
    head,
    body: end === -1 ? "" : text.slice(end + 4),
  };
}

/** {@link rawGet} of a JSON answer with status 200 (anything else throws, showing it). */
export async function rawGetJson<T = Record<string, string>>(
  port: number,
  host: string,
  path = "/",
): Promise<T> {
  const answer = await rawGet(port, host, path);
  if (answer.status !== 200) throw new Error(`${host}${path}: ${answer.head}${answer.body}`);
  return JSON.parse(answer.body);
}

/** An answer read as bytes, with its headers parsed and a chunked body de-chunked. */
export interface RawBytesAnswer {
  status: number;
  /** Header names lower-case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The body as sent, after de-chunking (not decompressed). */
  body: Uint8Array;
}

/**
 * Sends `method path` for `host` with `headers` to `127.0.0.1:port` (`Connection: close`) and
 * reads the answer as bytes: for compressed or binary bodies, which {@link rawGet} would decode.
 */
export async function rawRequestBytes(
  port: number,
  host: string,
  path = "/",
  headers: Record<string, string> = {},
  method = "GET",
): Promise<RawBytesAnswer> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  await connection.write(
    new TextEncoder().encode(
      `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${lines}Connection: close\r\n\r\n`,
    ),
  );
  const bytes = new Uint8Array(await new Response(connection.readable).arrayBuffer());
  let end = 0;
  const blank = [13, 10, 13, 10];
  while (end + 3 < bytes.length && blank.some((byte, i) => bytes[end + i] !== byte)) end++;
  const head = new TextDecoder().decode(bytes.subarray(0, end));
  const parsed: Record<string, string> = {};
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    parsed[name] = name in parsed ? `${parsed[name]}, ${value}` : value;
  }
  let body: Uint8Array = bytes.subarray(end + 4);
  if (parsed["transfer-encoding"] === "chunked") body = dechunk(body);
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), headers: parsed, body };
}

/** A chunked body's data. */
function dechunk(framed: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    let lineEnd = at;
    while (lineEnd + 1 < framed.length && !(framed[lineEnd] === 13 && framed[lineEnd + 1] === 10)) {
      lineEnd++;
    }
    const size = parseInt(new TextDecoder().decode(framed.subarray(at, lineEnd)), 16);
    if (!(size > 0)) break;
    parts.push(framed.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
