/**
 * A GET over a connection of its own, written and read on the socket: what a burst of callers
 * each sends, without the client library's own cost (node:http, which `lib/invoke.ts` uses to
 * reach `*.localhost` names, spends about a millisecond of this process's one thread per
 * request: 32 at once measured its queue more than the host's).
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Sends `GET /` for `host` to `127.0.0.1:port` on a new connection and reads the whole
 * answer (the server closes the connection after it). Returns the status code.
 */
export async function rawGet(port: number, host: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      encoder.encode(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`),
    );
    let head = "";
    const buffer = new Uint8Array(16 * 1024);
    for (let read; (read = await conn.read(buffer)) !== null;) {
      if (head.length < 16) head += decoder.decode(buffer.subarray(0, read));
    }
    const status = /^HTTP\/1\.[01] (\d{3}) /.exec(head);
    if (!status) throw new Error(`${host}: not an HTTP response: ${JSON.stringify(head)}`);
    return Number(status[1]);
  } finally {
    conn.close();
  }
}
