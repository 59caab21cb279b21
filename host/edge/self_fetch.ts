/**
 * Deployments' fetches of this host's own names: `fetch(new URL("/api/leads", request.url))` in a
 * server-rendered page, a hook that calls another deployment of the platform. On Deploy such a
 * fetch goes out and comes back in like any other client's. Here it cannot: the host's names
 * resolve to the machine's own addresses (or, under `localhost`, to none Deno resolves), which no
 * tenant may reach (sandbox.ts `DENIED_NET`). So the host listens on a unix socket that every
 * sandbox with a public network sees (sandbox.ts `EDGE_SOCKET_IN_SANDBOX`), and the bootstrap sends
 * such fetches there.
 *
 * The socket serves deployments only, as the router would serve them to a client at the
 * machine's own address (`127.0.0.1`, with the `https` a URL asked for): never the API, and a
 * name the host does not serve a deployment at is answered {@link NOT_SERVED_HERE}, after which
 * the bootstrap reports the fetch's own failure.
 *
 * @module
 */
import net from "node:net";
import { join } from "node:path";
import { ROUTER_ERROR_HEADER } from "../../lib/urls.ts";
import { hostName, invalidHostResponse } from "./router.ts";
import { treatAsHttps } from "./https.ts";
import { serveHost } from "./listener.ts";
import { EDGE_SOCKET_NAME } from "../tenant/sandbox.ts";

/** The router's error code (in {@link ROUTER_ERROR_HEADER}) for a name no deployment is served at. */
export const NOT_SERVED_HERE = "notServedHere";

/** The host's directory holding the socket (mounted into sandboxes before the socket exists). */
export function edgeSocketDir(dataDir: string): string {
  return join(dataDir, "edge");
}

/** What {@link serveSelfFetches} needs. */
export interface SelfFetchOptions {
  /** The host's data directory. */
  dataDir: string;
  baseDomain: string;
  /** Whether a deployment is bound to `host` (lower-case, no port). */
  bound: (host: string) => boolean;
  /** The router. */
  handler: (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response>;
  log: (line: string) => void;
}

/** The address a deployment's own fetch arrives from: the machine's, as a client's would. */
const MACHINE: Deno.ServeHandlerInfo = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
  completed: Promise.resolve(),
};

/**
 * The most connections the socket holds at once, from all deployments together; past it a new one
 * is closed as it comes. Each costs the host three files (the deployment's connection, and both
 * ends of the one to the server behind), so no deployment can make the host run out of them (a
 * tenant once held 2 459 of them open with 3 000 connections).
 */
export const EDGE_MAX_CONNECTIONS = 256;

/**
 * A connection with nothing to say for this long is closed: a deployment's fetch keeps idle
 * connections for reuse, and they would hold the places of others' (Deno's client opens a new
 * one when it finds its idle one closed).
 */
const EDGE_IDLE_MS = 30_000;

/** A running {@link serveSelfFetches}. */
export interface SelfFetchServer {
  /** Stops listening and closes the connections. */
  shutdown(): Promise<void>;
}

/** Listens on the socket in {@link edgeSocketDir} and serves deployments' own fetches there. */
export async function serveSelfFetches(options: SelfFetchOptions): Promise<SelfFetchServer> {
  const dir = edgeSocketDir(options.dataDir);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  // Deno's server holds every connection it is offered: it listens on a socket of the host's,
  // behind a Node server on the deployments' that holds at most EDGE_MAX_CONNECTIONS.
  const inner = join(options.dataDir, "edge.sock");
  const server = serveHost({ path: inner }, selfFetchHandler(options), options.log);
  const front = await frontOf(join(dir, EDGE_SOCKET_NAME), inner);
  return {
    async shutdown() {
      await new Promise<void>((resolve) => {
        front.close(() => resolve());
        for (const socket of front.open) socket.destroy();
      });
      await server.shutdown();
    },
  };
}

/** A Node server at `path` passing each connection's bytes to the socket at `inner`, and back. */
async function frontOf(
  path: string,
  inner: string,
): Promise<net.Server & { open: Set<net.Socket> }> {
  await Deno.remove(path).catch(() => {}); // left by a host that was killed
  const open = new Set<net.Socket>();
  const front = net.createServer((socket) => {
    const behind = net.connect(inner);
    open.add(socket);
    const close = () => {
      open.delete(socket);
      socket.destroy();
      behind.destroy();
    };
    for (const end of [socket, behind]) {
      end.on("error", close);
      end.on("close", close);
    }
    socket.setTimeout(EDGE_IDLE_MS, close);
    socket.pipe(behind).pipe(socket);
  });
  front.maxConnections = EDGE_MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(path, () => {
      front.off("error", reject);
      resolve();
    });
  });
  return Object.assign(front, { open });
}

/** Serves the router's deployments alone; a name none is served at is {@link NOT_SERVED_HERE}. */
function selfFetchHandler(options: SelfFetchOptions): Deno.ServeHandler {
  const suffix = "." + options.baseDomain;
  return (request) => {
    const host = hostName(request);
    if (host === undefined) return invalidHostResponse();
    if (!host.endsWith(suffix) && !options.bound(host)) {
      return Response.json({
        code: NOT_SERVED_HERE,
        message: `No deployment is served at ${host}`,
      }, { status: 502, headers: { [ROUTER_ERROR_HEADER]: NOT_SERVED_HERE } });
    }
    // Deno's fetch through a unix socket names the URL in full (`GET https://name/ HTTP/1.1`).
    if (request.url.startsWith("https:")) treatAsHttps(request);
    return options.handler(request, MACHINE);
  };
}
