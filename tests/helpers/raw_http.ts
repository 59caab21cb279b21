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
