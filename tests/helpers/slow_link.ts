/**
 * A slow network link on loopback: a TCP relay to a local port that passes what the client
 * sends at a fixed rate (a CI runner's uplink, a VPN), and the answers at full speed.
 *
 * @module
 */

/** A running relay; `await using` closes it. */
export interface SlowLink extends AsyncDisposable {
  /** The relay's port on 127.0.0.1. */
  port: number;
}

/** Relays 127.0.0.1:<port> to 127.0.0.1:`target`, the client's bytes at `bytesPerSecond`. */
export function slowLink(target: number, bytesPerSecond: number): SlowLink {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections = new Set<Deno.Conn>();
  const accepting = (async () => {
    for await (const client of listener) {
      connections.add(client);
      relay(client, target, bytesPerSecond, connections).catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of connections) closeQuietly(conn);
      await accepting;
    },
  };
}

async function relay(
  client: Deno.Conn,
  target: number,
  bytesPerSecond: number,
  connections: Set<Deno.Conn>,
): Promise<void> {
  const server = await Deno.connect({ hostname: "127.0.0.1", port: target });
  connections.add(server);
  // Small pieces, each after its share of time: the client's socket buffers fill, so its
  // writes wait as they would on a slow link.
  const piece = 4096;
  const upstream = (async () => {
    const buffer = new Uint8Array(piece);
    for (;;) {
      const read = await client.read(buffer);
      if (read === null) break;
      await writeAll(server, buffer.subarray(0, read));
      await new Promise((resolve) => setTimeout(resolve, (read / bytesPerSecond) * 1000));
    }
    await server.closeWrite().catch(() => {});
  })();
  const downstream = server.readable.pipeTo(client.writable, { preventClose: true });
  await Promise.allSettled([upstream, downstream]);
  closeQuietly(client);
  closeQuietly(server);
  connections.delete(client);
  connections.delete(server);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}
