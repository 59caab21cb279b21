/**
 * Deployments' fetches of this host's own names: a hook that calls another deployment of the
 * platform, a page that calls the platform's API deployment. On Deploy such a fetch goes out and
 * comes back in like any other client's. Here it cannot: the host's names resolve to the
 * machine's own addresses (or, under `localhost`, to none Deno resolves), which no tenant may
 * reach (sandbox.ts `DENIED_NET`). So the host listens on a unix socket that every sandbox with a
 * public network sees (sandbox.ts `EDGE_SOCKET_IN_SANDBOX`), and the bootstrap sends such fetches
 * there.
 *
 * The socket serves deployments only, as the router would serve them to a client at the
 * machine's own address (`127.0.0.1`, with the `https` a URL asked for): never the API, and a
 * name the host does not serve a deployment at is answered {@link NOT_SERVED_HERE}, after which
 * the bootstrap reports the fetch's own failure. A deployment's fetch of itself (by any of its
 * names) is `508 LOOP_DETECTED`, as on Deploy: one `fetch(request.url)` in a handler would
 * otherwise call itself without end, each call holding a connection, long after its caller left;
 * so is a chain through several deployments deeper than {@link MAX_FETCH_DEPTH}.
 *
 * @module
 */
import net from "node:net";
import { join } from "node:path";
import { errorResponse, hostName, invalidHostResponse } from "./router.ts";
import { treatAsHttps } from "./https.ts";
import { serveHost } from "./listener.ts";
import { EDGE_SOCKET_NAME, type EdgeDoor } from "../tenant/sandbox.ts";

/** The router's error code (its `ROUTER_ERROR_HEADER`) for a name no deployment is served at. */
export const NOT_SERVED_HERE = "notServedHere";

/** Deploy's code for a deployment's request to itself. */
export const LOOP_DETECTED = "LOOP_DETECTED";

/**
 * Set by a deployment's bootstrap on each fetch of the host's names: how deep in a chain of
 * such fetches it is (1 for one made by a request from outside, 2 for one made by a request
 * that was itself such a fetch, …). bootstrap.js spells it too.
 */
export const FETCH_DEPTH_HEADER = "x-deploy-tenant-fetch-depth";

/**
 * The deepest chain of fetches between deployments the host serves: deeper is a loop through
 * several deployments (A calls B, which calls A …), which the same-deployment check cannot see.
 */
export const MAX_FETCH_DEPTH = 16;

/** The host's directory holding the processes' doors ({@link EdgeDoors}). */
export function edgeSocketDir(dataDir: string): string {
  return join(dataDir, "edge");
}

/** What {@link serveSelfFetches} needs. */
export interface SelfFetchOptions {
  /** The doors the deployments' processes connect through (opened as they start). */
  doors: EdgeDoors;
  baseDomain: string;
  /** The deployment bound to `host` (lower-case, no port), if any. */
  deploymentAt: (host: string) => string | undefined;
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
 * The most connections the doors hold at once, from all deployments together. Each costs the
 * host three files (the deployment's connection, and both ends of the one to the server behind),
 * so no deployment can make the host run out of them (a tenant once held 2 459 of them open with
 * 3 000 connections). Past it, a process holding fewer than the one holding most still gets in,
 * in place of that one's oldest ({@link EdgeDoors}).
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
  /** The loopback port it listens on, behind the doors. */
  readonly port: number;
  /** Stops listening and closes the connections. */
  shutdown(): Promise<void>;
}

/** Serves deployments' own fetches arriving through `options.doors`. */
export function serveSelfFetches(options: SelfFetchOptions): SelfFetchServer {
  // Deno's server holds every connection it is offered: it listens behind the doors, which hold
  // at most EDGE_MAX_CONNECTIONS. On a loopback port rather than a unix socket: the port a
  // door's connection comes from tells whose it is.
  const server = serveHost(
    { hostname: "127.0.0.1", port: 0 },
    selfFetchHandler(options),
    options.log,
  );
  options.doors.behind(server.port);
  return {
    port: server.port,
    async shutdown() {
      await options.doors.close();
      await server.shutdown();
    },
  };
}

/**
 * The sockets deployments' processes connect to for their fetches of the host's own names: one
 * per process, in a directory of its own (mounted at sandbox.ts `EDGE_SOCKET_IN_SANDBOX`), so the
 * host knows whose each connection is. They share {@link EDGE_MAX_CONNECTIONS}, and fairly: with
 * every place taken, a process holding fewer connections than the one holding most takes the
 * place of that one's oldest. One socket for all let a single deployment holding every place
 * (connections it opens and keeps, or a fetch of itself from itself) fail every other
 * deployment's fetches of its own URL.
 */
export class EdgeDoors {
  readonly #dir: string;
  /** The loopback port of the server behind the doors, once it listens. */
  #inner: number | undefined;
  /** Each open door's connections, oldest first, each with what closes it. */
  readonly #doors = new Set<Map<net.Socket, () => void>>();
  readonly #servers = new Set<net.Server>();
  /** Whose process each connection to the server behind came from, by its local port. */
  readonly #origins = new Map<number, () => string | undefined>();
  #held = 0;

  private constructor(dir: string) {
    this.#dir = dir;
  }

  /** The doors of the host at `dataDir`, none open (those a killed host left are removed). */
  static async create(dataDir: string): Promise<EdgeDoors> {
    const dir = edgeSocketDir(dataDir);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    return new EdgeDoors(dir);
  }

  /** Connections held through all doors now. */
  get held(): number {
    return this.#held;
  }

  /** Says where the server behind the doors listens: `port` on 127.0.0.1. */
  behind(port: number): void {
    this.#inner = port;
  }

  /**
   * Who made the connection that reaches the server behind from `port` (its
   * `remoteAddr.port`): `undefined` when it did not come through a door, else the door's
   * process, with its deployment once it has one.
   */
  originOf(port: number): { deploymentId: string | undefined } | undefined {
    const whose = this.#origins.get(port);
    return whose && { deploymentId: whose() };
  }

  /**
   * Opens a process's door: a directory holding its socket ({@link EDGE_SOCKET_NAME}).
   * `deploymentId` says whose the process is now (a pooled runtime's is known at its handoff).
   */
  async open(deploymentId: () => string | undefined): Promise<EdgeDoor> {
    const dir = join(this.#dir, crypto.randomUUID());
    await Deno.mkdir(dir, { mode: 0o700 });
    const own = new Map<net.Socket, () => void>();
    const server = net.createServer((socket) => this.#admit(own, socket, deploymentId));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(join(dir, EDGE_SOCKET_NAME), () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#doors.add(own);
    this.#servers.add(server);
    let closed: Promise<void> | undefined;
    return {
      dir,
      close: () =>
        closed ??= (async () => {
          this.#doors.delete(own);
          this.#servers.delete(server);
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            for (const close of [...own.values()]) close();
          });
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        })(),
    };
  }

  /** Closes every door. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.#servers].map((server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const door of this.#doors) for (const close of [...door.values()]) close();
        })
      ),
    );
    this.#doors.clear();
    this.#servers.clear();
  }

  /** Lets `socket` in through the door holding `own`, or closes it (see the class). */
  #admit(
    own: Map<net.Socket, () => void>,
    socket: net.Socket,
    deploymentId: () => string | undefined,
  ): void {
    if (this.#inner === undefined) {
      socket.destroy(); // nothing behind yet
      return;
    }
    if (this.#held >= EDGE_MAX_CONNECTIONS) {
      let most = own;
      for (const door of this.#doors) if (door.size > most.size) most = door;
      if (most.size <= own.size + 1) {
        socket.destroy();
        return;
      }
      most.values().next().value!(); // gives its place back at once
    }
    const behind = net.connect(this.#inner, "127.0.0.1");
    let origin: number | undefined;
    // Connected before a byte is sent, so before the server behind reads the request.
    behind.once("connect", () => {
      origin = behind.localPort;
      if (origin !== undefined) this.#origins.set(origin, deploymentId);
    });
    let gone = false;
    const close = () => {
      if (!gone) {
        gone = true;
        own.delete(socket);
        this.#held--;
        if (origin !== undefined && this.#origins.get(origin) === deploymentId) {
          this.#origins.delete(origin);
        }
      }
      socket.destroy();
      behind.destroy();
    };
    for (const end of [socket, behind]) {
      end.on("error", close);
      end.on("close", close);
    }
    own.set(socket, close);
    this.#held++;
    socket.setTimeout(EDGE_IDLE_MS, close);
    socket.pipe(behind).pipe(socket);
  }
}

/**
 * Serves the router's deployments alone; a name none is served at is {@link NOT_SERVED_HERE},
 * a deployment's request to itself {@link LOOP_DETECTED}.
 */
function selfFetchHandler(options: SelfFetchOptions): Deno.ServeHandler {
  const suffix = "." + options.baseDomain;
  return (request, info) => {
    const origin = "port" in info.remoteAddr
      ? options.doors.originOf(info.remoteAddr.port)
      : undefined;
    // Any program on the machine may connect to a loopback port: what did not come through a
    // door is not a deployment's fetch.
    if (!origin) {
      return errorResponse(
        403,
        "notADeployment",
        "This socket serves deployments' own fetches only",
      );
    }
    const host = hostName(request);
    if (host === undefined) return invalidHostResponse();
    const target = options.deploymentAt(host);
    if (!target && !host.endsWith(suffix)) {
      return errorResponse(502, NOT_SERVED_HERE, `No deployment is served at ${host}`);
    }
    if (target && target === origin.deploymentId) {
      return errorResponse(
        508,
        LOOP_DETECTED,
        "Recursive requests to the same deployment cannot be processed.",
      );
    }
    // A tenant that skips its bootstrap's fetch (a raw socket) can leave it out: it only
    // loosens its own loops, which the doors' shares still bound.
    const depth = Number(request.headers.get(FETCH_DEPTH_HEADER)) || 0;
    if (depth > MAX_FETCH_DEPTH) {
      return errorResponse(
        508,
        LOOP_DETECTED,
        `Requests between deployments nested more than ${MAX_FETCH_DEPTH} deep: a loop?`,
      );
    }
    // Deno's fetch through a unix socket names the URL in full (`GET https://name/ HTTP/1.1`).
    if (request.url.startsWith("https:")) treatAsHttps(request);
    return options.handler(request, MACHINE);
  };
}
