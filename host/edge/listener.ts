/**
 * The host's own HTTP server, kept listening through a failure to accept.
 *
 * Deno's server stops for good when accepting a connection fails (`Too many open files` once
 * clients hold as many connections as the host may open files), and with it the host and every
 * tenant would go. Here the failure is logged and the server listens again, on the same port
 * or socket, after a backoff: once the clients let go, the host serves as before.
 *
 * @module
 */

/** Where the server listens: a TCP port or a unix socket. */
export type ListenOn = { hostname: string; port: number } | { path: string };

/** A server that listens again after a failure to accept. */
export interface HostServer {
  /** The TCP port it listens on (0 for a unix socket). */
  readonly port: number;
  /** Settles once {@link shutdown} has stopped it. */
  readonly finished: Promise<void>;
  /** Stops listening and finishes the requests in flight. */
  shutdown(): Promise<void>;
}

/** The longest wait between two attempts to listen again. */
const MAX_BACKOFF_MS = 2_000;

/** Serves `handler` on `on`; `log` hears of each failure and recovery. */
export function serveHost(
  on: ListenOn,
  handler: Deno.ServeHandler,
  log: (line: string) => void,
): HostServer {
  let stopping = false;
  let current = listen(on, handler);
  const port = "port" in on ? (current.addr as Deno.NetAddr).port : 0;
  const where: ListenOn = "port" in on ? { ...on, port } : on;
  let stopped = () => {};
  const finished = new Promise<void>((resolve) => stopped = resolve);

  const supervise = async () => {
    let backoff = 50;
    for (;;) {
      try {
        await current.finished;
      } catch (error) {
        if (!stopping) log(`server: ${(error as Error).message}; listening again`);
      }
      if (stopping) return stopped();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, backoff));
        if (stopping) return stopped();
        try {
          current = listen(where, handler);
          break;
        } catch (error) {
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
          log(`server: cannot listen again yet (${(error as Error).message})`);
        }
      }
    }
  };
  supervise();

  return {
    port,
    finished,
    async shutdown() {
      stopping = true;
      await current.shutdown().catch(() => {});
      await finished;
    },
  };
}

function listen(on: ListenOn, handler: Deno.ServeHandler): Deno.HttpServer {
  if ("path" in on) {
    try {
      Deno.removeSync(on.path); // left by the server that failed
    } catch { /* none */ }
    return Deno.serve({ path: on.path, onListen() {} }, handler);
  }
  return Deno.serve({ hostname: on.hostname, port: on.port, onListen() {} }, handler);
}
