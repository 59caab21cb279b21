/**
 * The front proxy: HAProxy on the host's public port, forwarding each request for a warm
 * deployment straight to its tenant's unix socket, so the data path has one hop and no
 * JavaScript. Everything else — the API, unknown names, a deployment with no process yet —
 * goes to the host's own server (the Deno router), which is what serves when HAProxy is not
 * installed.
 *
 * How a request finds its tenant: HAProxy has `slots` backends declared up front, slot `k`
 * connecting to `<dir>/slots/<k>.sock`. When a process comes up it takes a free slot: that
 * name becomes a hard link to its socket ({@link linkSlot}), the slot's server is put in
 * service, and every name the router would serve from that deployment is added to the routes
 * map (HAProxy's runtime API). Before the host stops a process its names leave the map and its slot goes out of
 * service (idle connections to it are closed); the slot is reused only once the process has
 * exited, so a reused slot can never deliver a request to the previous tenant. A process that
 * dies on its own fails one connection, which marks its server down: later requests go to the
 * slot's backup server, the router, until the host has freed the slot. HAProxy never resends
 * a request (the process may have died of it); the request itself gets a 502, except on a
 * kept-alive client connection, where HAProxy closes the connection without an answer so that
 * the client may retry (Deno's fetch does, whatever the method). Names move (promote, attach, detach, rename)
 * through the API or a build: after any API change and before a build goes live the map is
 * recomputed from the store.
 *
 * What the router does per request still happens: usage per project (counted inside HAProxy,
 * see `haproxy_config.ts`, collected every second from the slots that serve and before
 * analytics are read; an idle slot is read again once its next request's log line wakes it), the
 * per-request time limit (the tenant answers its own 504; HAProxy's server timeout catches a
 * stuck event loop, and its log line makes the host restart the process), `MEMORY_LIMIT` for
 * the requests of a process killed over its memory (a verdict map the host fills in while the
 * process dies) and the `x-forwarded-*` headers.
 *
 * @module
 */
import { join } from "node:path";
import {
  byteCounter,
  COUNTERS_KEY,
  haproxyConfig,
  messagesMapFile,
  type Route,
  routeValue,
  SLOT_HEADER,
  slotBackend,
  WAKE_FLAG,
} from "./haproxy_config.ts";
import { Haproxy } from "./haproxy.ts";
import {
  type AppLog,
  DEFAULT_REQUEST_TIMEOUT_MS,
  oversizedHeadMessage,
  requestTimeoutMs,
  STUCK_PROCESS_REASON,
  TIME_LIMIT_GRACE_MS,
  timedOutMessage,
} from "../tenant/limits.ts";
import {
  counterDelta,
  parseBackendStats,
  parseCounterTables,
  parseProxyLogLine,
} from "./proxy_usage.ts";
import { copiedFrom, hostName, invalidHostResponse, servesName } from "./router.ts";
import { isWebSocketUpgrade } from "./websocket.ts";
import {
  DRAIN_POLL_MS,
  type Instance,
  type InstanceObserver,
  type Runtime,
} from "../tenant/runtime.ts";
import { TenantClient } from "../tenant/client.ts";
import { warmUp } from "../tenant/warm_pool.ts";
import type { Store } from "../store/store.ts";
import type { UsageMeter, UsageOwner } from "../tenant/usage.ts";

/** HAProxy's server timeout is the tenant's own limit plus the grace plus this margin. */
const BACKSTOP_MARGIN_MS = 250;

/** How often the counters of slots that serve are read from HAProxy. */
const POLL_INTERVAL_MS = 1_000;

/** Where the front proxy keeps its files: `<dataDir>/front`. */
export function frontProxyDir(dataDir: string): string {
  return join(dataDir, "front");
}

/** The unix socket the host's own server listens on behind the proxy. */
export function frontProxyApiSocket(dataDir: string): string {
  return join(frontProxyDir(dataDir), "api.sock");
}

/** What the front proxy needs. */
export interface FrontProxyOptions {
  /** The HAProxy binary (see `findHaproxy()`). */
  haproxy: string;
  dataDir: string;
  /** The public listener; port `0` picks a free one. */
  hostname: string;
  port: number;
  /** How many processes can be routed to at once: the runtime's `maxWarm`. */
  slots: number;
  /** HAProxy threads. Default 1. */
  threads?: number;
  /** The cgroup HAProxy runs in (host/tenant/cgroups.ts `serviceCgroup`), if any. */
  cgroup?: { procsFiles: string[] };
  store: Store;
  runtime: Runtime;
  baseDomain: string;
  usage?: UsageMeter;
  appLog: AppLog;
  /** The host's own log. */
  log: (line: string) => void;
}

/** A slot and the process it routes to. */
interface Slot {
  index: number;
  instance?: Instance;
  owner?: UsageOwner;
  /** `true` from `retiring` on: no route is added any more. */
  retiring: boolean;
  /** A sync after a request through the router is queued. */
  syncing?: boolean;
  /** Counter values already attributed to the occupant. */
  counted: { requests: number; bytesIn: number; bytesOut: number };
}

/** HAProxy in front of the host, routing warm deployments to their tenants. */
export class FrontProxy implements InstanceObserver {
  #options: FrontProxyOptions;
  #haproxy: Haproxy;
  #dir: string;
  #routesMap: string;
  #verdictsMap: string;
  /** Reaches a slot through HAProxy before its names are routed (see `#warmUp`). */
  #warmUpClient: TenantClient;
  /** Deployments whose process is dying over its memory: the verdict being set, or set. */
  #verdicts = new Map<string, Promise<void>>();
  #slots: Slot[];
  #byDeployment = new Map<string, Slot>();
  /**
   * Slots that serve, read every second: added when a process comes up in one and on its
   * wake-up log line (see haproxy_config.ts `WAKE_FLAG`), removed when a read sees no new request
   * and none in flight. Idle slots are not even looked at.
   */
  #busy = new Set<Slot>();
  /** Processes that have exited (their slot is released next). */
  #exited = new WeakSet<Instance>();
  /** Processes that came up while every slot was taken, served by the router meanwhile. */
  #waiting: Instance[] = [];
  /** Processes that came up since the queue last mapped any. */
  #comingUp: Instance[] = [];
  /** The routes map as HAProxy has it: host name → slot. */
  #routes = new Map<string, { slot: Slot; value: string }>();
  /** Map and slot changes run one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();
  #poller: ReturnType<typeof setInterval>;
  #closed = false;
  /** The public port. */
  readonly port: number;

  private constructor(
    options: FrontProxyOptions,
    haproxy: Haproxy,
    port: number,
    paths: { dir: string; routesMap: string; verdictsMap: string; warmUpSocket: string },
  ) {
    this.#options = options;
    this.#haproxy = haproxy;
    this.port = port;
    this.#dir = paths.dir;
    this.#routesMap = paths.routesMap;
    this.#verdictsMap = paths.verdictsMap;
    this.#warmUpClient = new TenantClient(paths.warmUpSocket);
    this.#slots = Array.from({ length: options.slots }, (_, index) => ({
      index,
      retiring: false,
      counted: { requests: 0, bytesIn: 0, bytesOut: 0 },
    }));
    this.#poller = setInterval(() => {
      // Slots that serve only: an idle one wakes up by its next request's log line, so a
      // thousand idle tenants cost HAProxy and the host no admin command at all.
      const slots = [...this.#busy];
      if (slots.length > 0) this.#enqueue(() => this.#collect(slots)).catch(() => {});
    }, POLL_INTERVAL_MS);
    Deno.unrefTimer(this.#poller as unknown as number);
  }

  /**
   * Writes the configuration into `<dataDir>/front` and starts HAProxy on the public port.
   * The host's own server must listen on {@link frontProxyApiSocket} already.
   */
  static async start(options: FrontProxyOptions): Promise<FrontProxy> {
    const dir = frontProxyDir(options.dataDir);
    const slotsDir = join(dir, "slots");
    await Deno.mkdir(slotsDir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
    // Left by a host that was killed: no slot points anywhere yet.
    for await (const entry of Deno.readDir(slotsDir)) {
      await Deno.remove(join(slotsDir, entry.name)).catch(() => {});
    }
    const routesMap = join(dir, "routes.map");
    const verdictsMap = join(dir, "verdicts.map");
    const messagesMap = join(dir, "messages.map");
    const adminSocket = join(dir, "admin.sock");
    const warmUpSocket = join(dir, "warm-up.sock");
    await writePrivate(routesMap, "");
    await writePrivate(verdictsMap, "");
    await writePrivate(messagesMap, messagesMapFile());
    await Deno.remove(adminSocket).catch(() => {});
    await Deno.remove(warmUpSocket).catch(() => {});
    let proxy: FrontProxy | undefined;
    // A free port picked here may be taken before HAProxy binds it: then try another.
    for (let attempt = 0;; attempt++) {
      const port = options.port === 0 ? freePort(options.hostname) : options.port;
      const configPath = join(dir, "haproxy.cfg");
      await writePrivate(
        configPath,
        haproxyConfig({
          hostname: options.hostname,
          port,
          apiSocket: frontProxyApiSocket(options.dataDir),
          adminSocket,
          warmUpSocket,
          routesMap,
          verdictsMap,
          messagesMap,
          slotSocket: (slot) => join(slotsDir, `${slot}.sock`),
          slots: options.slots,
          threads: options.threads ?? 1,
          baseDomain: options.baseDomain,
        }),
      );
      try {
        const haproxy = await Haproxy.start({
          binary: options.haproxy,
          configPath,
          adminSocket,
          onLogLine: (line) => {
            if (proxy) proxy.#onLogLine(line);
          },
          onMessage: (line) => options.log(`haproxy: ${line}`),
          cgroup: options.cgroup,
        });
        const paths = { dir, routesMap, verdictsMap, warmUpSocket };
        proxy = new FrontProxy(options, haproxy, port, paths);
        return proxy;
      } catch (error) {
        if (options.port !== 0 || attempt >= 4 || !(error instanceof Deno.errors.AddrInUse)) {
          throw error;
        }
      }
    }
  }

  /** Settles when HAProxy exits (on its own, it should not). */
  get exited(): Promise<Deno.CommandStatus> {
    return this.#haproxy.exited;
  }

  /**
   * A process came up: give it a slot and map its names (the runtime's hook). Processes that
   * come up together (a burst of cold starts) are mapped together, in two admin calls.
   */
  ready(instance: Instance): void {
    this.#comingUp.push(instance);
    if (this.#comingUp.length > 1) return; // the task queued for the first takes it along
    this.#enqueue(async () => {
      // A turn of the event loop first: the first request of a cold start, which the router
      // forwards, goes before this work (a store read, a slot's symlink, admin calls: ~1 ms of
      // the host's thread here).
      await new Promise((resolve) => setTimeout(resolve, 0));
      const batch = this.#comingUp;
      this.#comingUp = [];
      const assignments: [Slot, Instance][] = [];
      for (const instance of batch) {
        instance.exited.then(() => {
          this.#exited.add(instance);
          this.#enqueue(() => this.#release(instance));
        });
        const slot = this.#slots.find((candidate) =>
          !candidate.instance && !assignments.some(([taken]) => taken === candidate)
        );
        if (slot) assignments.push([slot, instance]);
        else this.#waiting.push(instance);
      }
      await this.#assign(assignments);
    });
  }

  /** Settles once the processes that came up so far are in their slots and routed. */
  settled(): Promise<void> {
    return this.#enqueue(() => Promise.resolve());
  }

  /**
   * The host is about to stop a process: its names leave the map first (the runtime's hook).
   * With `drainMs`, then waits that long at most for the requests HAProxy forwarded to it
   * already to be answered (outside the queue: other slots' work goes on meanwhile).
   */
  async retiring(instance: Instance, drainMs = 0): Promise<void> {
    const slot = await this.#enqueue(async () => {
      this.#waiting = this.#waiting.filter((waiting) => waiting !== instance);
      const slot = this.#byDeployment.get(instance.deploymentId);
      if (!slot || slot.instance !== instance || slot.retiring) return undefined;
      slot.retiring = true;
      await this.#unroute(slot);
      return slot;
    });
    if (!slot || drainMs <= 0) return;
    const backend = slotBackend(slot.index);
    for (const deadline = Date.now() + drainMs; Date.now() < deadline;) {
      const stats = parseBackendStats(await this.#haproxy.command(`show stat ${backend} 2 -1`));
      if (!(stats.get(backend)?.current)) return;
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
  }

  /**
   * The deployment's process is dying over its memory limit: the requests it had in flight
   * get `MEMORY_LIMIT` (the runtime's hook). Not queued: the process dies within milliseconds.
   */
  outOfMemory(deploymentId: string): Promise<void> {
    let setting = this.#verdicts.get(deploymentId);
    if (!setting) {
      setting = this.#admin([`add map ${this.#verdictsMap} ${deploymentId} MEMORY_LIMIT`])
        .catch(() => {});
      this.#verdicts.set(deploymentId, setting);
    }
    return setting;
  }

  /** Names a deployment is about to take over leave the map (the builder's hook). */
  beforeLive(_id: string, domains: string[]): Promise<void> {
    return this.#enqueue(async () => {
      const commands: string[] = [];
      for (const name of domains) this.#dropRoute(name, commands);
      await this.#admin(commands);
    });
  }

  /**
   * A deployment went live (the builder's hook): map its names if its process has a slot.
   * Only its slot changes: `beforeLive` took its names from whoever held them.
   */
  live(deploymentId: string): Promise<void> {
    return this.#enqueue(async () => {
      const slot = this.#byDeployment.get(deploymentId);
      if (slot) await this.#syncSlot(slot);
    });
  }

  /**
   * A deployment that served a request through the router: map its names if it has a slot
   * (and read the slot: its server may be marked down after a failed connection).
   */
  served(instance: Instance): void {
    const slot = this.#byDeployment.get(instance.deploymentId);
    if (slot?.instance !== instance || slot.retiring || slot.syncing) return;
    this.#busy.add(slot);
    slot.syncing = true;
    this.#enqueue(() => {
      slot.syncing = false;
      return this.#syncSlot(slot);
    });
  }

  /** Recomputes every mapped deployment's names from the store (after an API change). */
  resync(): Promise<void> {
    return this.#enqueue(async () => {
      for (const slot of this.#byDeployment.values()) await this.#syncSlot(slot);
    });
  }

  /**
   * Reads HAProxy's counters and adds what they counted since the last read to each
   * deployment's usage; marks processes with requests as recently used.
   */
  collect(): Promise<void> {
    return this.#enqueue(() => this.#collect([...this.#byDeployment.values()]));
  }

  /** Stops HAProxy (after counting what it served). Later hooks do nothing. */
  async stop(): Promise<void> {
    clearInterval(this.#poller);
    await this.collect().catch(() => {});
    this.#closed = true;
    await this.#queue.catch(() => {});
    await this.#haproxy.stop("public");
    await Deno.remove(join(this.#dir, "slots"), { recursive: true }).catch(() => {});
  }

  // ---- slots ----

  /** Puts each process in its slot and routes its names there: two admin calls in all. */
  async #assign(assignments: [Slot, Instance][]): Promise<void> {
    if (assignments.length === 0) return;
    for (const [slot, instance] of assignments) {
      const record = this.#options.store.getDeploymentRecord(instance.deploymentId);
      slot.instance = instance;
      slot.retiring = false;
      slot.owner = record &&
        { organizationId: record.organizationId, projectId: record.projectId };
      this.#byDeployment.set(instance.deploymentId, slot);
      linkSlot(instance.socketPath, this.#slotSocket(slot));
    }
    const slots = assignments.map(([slot]) => slot);
    const inService = (slot: Slot) => {
      const server = `${slotBackend(slot.index)}/s`;
      return [`set server ${server} state ready`, `set server ${server} health up`];
    };
    const warming = assignments.filter(([, instance]) => instance.warmUpSecret !== undefined);
    if (warming.length > 0) {
      // In service, not routed yet: only the warm-up reaches them, and the counters read
      // below count it before their occupant's time.
      await this.#admin(warming.flatMap(([slot]) => inService(slot)));
      await Promise.all(warming.map(([slot, instance]) => this.#warmUp(slot, instance)));
    }
    const commands: string[] = [];
    for (const slot of slots) {
      this.#busy.add(slot); // it was started for a request: read it every second until it is quiet
      commands.push(...inService(slot));
      this.#syncCommands(slot, commands);
    }
    // What the counters say before the slots are in service belongs to earlier occupants:
    // read first, in the same admin call (HAProxy answers commands in order).
    const counters = await this.#readCounters(slots, commands);
    for (const slot of slots) {
      const read = counters.get(slot.index);
      if (read) {
        slot.counted = { requests: read.requests, bytesIn: read.bytesIn, bytesOut: read.bytesOut };
      }
    }
  }

  /**
   * Sends a process that came up ahead of its callers (a restore, a build's check) its second
   * warm-up through HAProxy: HAProxy keeps the connection (`http-reuse always`, no purge), and
   * the first caller's request takes it instead of opening one: the tenant's first request
   * costs it about half the CPU then (a burst of 32 after a restart: see benchmarks.md).
   */
  async #warmUp(slot: Slot, instance: Instance): Promise<void> {
    const secret = instance.warmUpSecret;
    instance.warmUpSecret = undefined;
    await warmUp(this.#warmUpClient, instance.exited, {
      secret,
      timeoutMs: 1_000,
      // Closed on the host's side: HAProxy's connection to the tenant goes to the slot's pool.
      headers: { [SLOT_HEADER]: slotBackend(slot.index), connection: "close" },
    });
  }

  /** The process exited: count its last requests and free its slot. */
  async #release(instance: Instance): Promise<void> {
    this.#waiting = this.#waiting.filter((waiting) => waiting !== instance);
    const slot = this.#byDeployment.get(instance.deploymentId);
    const occupant = slot?.instance === instance ? slot : undefined;
    if (occupant && !occupant.retiring) {
      occupant.retiring = true; // it crashed
      await this.#unroute(occupant);
    }
    if (occupant) await this.#collect([occupant]);
    // Its requests in flight have had their 502s: the deployment's next process starts clean.
    const verdict = this.#verdicts.get(instance.deploymentId);
    if (verdict) {
      await verdict;
      this.#verdicts.delete(instance.deploymentId);
      await this.#admin([`del map ${this.#verdictsMap} ${instance.deploymentId}`]);
    }
    if (!occupant) return;
    await Deno.remove(this.#slotSocket(occupant)).catch(() => {});
    this.#byDeployment.delete(instance.deploymentId);
    occupant.instance = undefined;
    occupant.owner = undefined;
    const next = this.#waiting.find((waiting) => !this.#exited.has(waiting));
    this.#waiting = this.#waiting.filter((waiting) => waiting !== next);
    if (next) await this.#assign([[occupant, next]]);
  }

  /** Takes the slot's names out of the map and the slot out of service. */
  async #unroute(slot: Slot): Promise<void> {
    const commands: string[] = [];
    for (const [name, route] of this.#routes) {
      if (route.slot === slot) this.#dropRoute(name, commands);
    }
    // In maintenance, HAProxy closes the idle connections to the old process.
    commands.push(`set server ${slotBackend(slot.index)}/s state maint`);
    await this.#admin(commands);
  }

  // ---- routes ----

  /** Makes the map route exactly the names the router would serve from the slot's deployment. */
  async #syncSlot(slot: Slot): Promise<void> {
    const commands: string[] = [];
    this.#syncCommands(slot, commands);
    await this.#admin(commands);
  }

  /** Adds to `commands` what routes the slot's names as {@link #syncSlot} says. */
  #syncCommands(slot: Slot, commands: string[]): void {
    const instance = slot.instance;
    if (!instance || slot.retiring) return;
    const { store, baseDomain } = this.#options;
    const record = store.getDeploymentRecord(instance.deploymentId);
    const wanted = new Set<string>();
    let value = "";
    if (record?.status === "success") {
      for (const name of record.domains ?? []) {
        // Names under a wildcard are served by the router (the map matches whole names).
        if (name.includes("*")) continue;
        if (servesName(store, baseDomain, name, record)) wanted.add(name);
      }
      const timeoutMs = requestTimeoutMs(record);
      const route: Route = {
        slot: slot.index,
        backstopMs: timeoutMs + TIME_LIMIT_GRACE_MS + BACKSTOP_MARGIN_MS,
        deploymentId: record.id,
        requestTimeoutMs: timeoutMs,
      };
      value = routeValue(route);
    }
    for (const [name, route] of this.#routes) {
      if (route.slot === slot && !wanted.has(name)) this.#dropRoute(name, commands);
    }
    for (const name of wanted) {
      const current = this.#routes.get(name);
      if (current?.value === value && current.slot === slot) continue;
      commands.push(`${current ? "set" : "add"} map ${this.#routesMap} ${name} ${value}`);
      this.#routes.set(name, { slot, value });
    }
  }

  #dropRoute(name: string, commands: string[]): void {
    if (!this.#routes.delete(name)) return;
    commands.push(`del map ${this.#routesMap} ${name}`);
  }

  // ---- usage ----

  async #collect(slots: Slot[]): Promise<void> {
    const occupied = slots.filter((slot) => slot.instance);
    for (const slot of slots) if (!slot.instance) this.#busy.delete(slot);
    if (occupied.length === 0 || this.#closed) return;
    const counters = await this.#readCounters(occupied);
    for (const slot of occupied) {
      const read = counters.get(slot.index);
      if (!read) continue;
      const requests = read.requests - slot.counted.requests;
      const bytesIn = counterDelta(read.bytesIn, slot.counted.bytesIn);
      const bytesOut = counterDelta(read.bytesOut, slot.counted.bytesOut);
      slot.counted = { requests: read.requests, bytesIn: read.bytesIn, bytesOut: read.bytesOut };
      if (slot.owner) {
        this.#options.usage?.add(slot.owner, {
          requestCount: requests,
          networkIngressBytes: bytesIn,
          networkEgressBytes: bytesOut,
        });
      }
      if (requests > 0 || read.current > 0) slot.instance?.used();
      else this.#busy.delete(slot);
      // A connection failed (the router serves meanwhile); if the process lives, route to it.
      if (read.serverDown && !slot.retiring && slot.instance && !this.#exited.has(slot.instance)) {
        await this.#admin([`set server ${slotBackend(slot.index)}/s health up`]);
      }
    }
  }

  /**
   * The slots' request totals, requests in flight and byte counters, from one admin call, which
   * then runs `then` (commands that answer nothing unless they fail).
   */
  async #readCounters(
    slots: Slot[],
    then: string[] = [],
  ): Promise<Map<number, Slot["counted"] & { current: number; serverDown: boolean }>> {
    const threads = this.#options.threads ?? 1;
    const commands: string[] = [];
    for (const slot of slots) {
      const backend = slotBackend(slot.index);
      // Cleared before the read: a request after it is counted now and wakes the slot up too,
      // none slips between a read that saw the slot quiet and the flag.
      commands.push(`set table ${backend} key ${COUNTERS_KEY} data.gpt ${WAKE_FLAG}`);
      // The slot's backend and server rows only: the whole table stalls HAProxy a moment.
      commands.push(`show stat ${backend} 6 -1`);
      commands.push(`show table ${backend}`);
    }
    const answer = await this.#haproxy.command(...commands, ...then);
    const stats = parseBackendStats(answer);
    const tables = parseCounterTables(answer);
    // Neither a stats row (CSV) nor a table: what one of `then` said went wrong.
    const problems = answer.split("\n").filter((line) =>
      line.trim() !== "" && !line.includes(",") && !line.startsWith("0x")
    );
    if (then.length > 0 && problems.length > 0) {
      this.#options.log(`haproxy admin: ${problems.join("; ")}`);
    }
    const result = new Map<number, Slot["counted"] & { current: number; serverDown: boolean }>();
    for (const slot of slots) {
      const backend = stats.get(slotBackend(slot.index));
      if (!backend) continue;
      // No entry yet: nothing reached the slot since HAProxy started.
      const counters = tables.get(slotBackend(slot.index)) ?? [];
      let bytesIn = 0;
      let bytesOut = 0;
      for (let thread = 0; thread < threads; thread++) {
        bytesIn += counters[byteCounter("i", thread)] ?? 0;
        bytesOut += counters[byteCounter("o", thread)] ?? 0;
      }
      result.set(slot.index, {
        requests: backend.requests,
        current: backend.current,
        serverDown: backend.serverDown,
        bytesIn,
        bytesOut,
      });
    }
    return result;
  }

  /** A request the counters could not measure, or an answer HAProxy gave itself. */
  #onLogLine(line: string): void {
    const entry = parseProxyLogLine(line);
    if (!entry) return;
    const slot = this.#byDeployment.get(entry.deploymentId);
    const owner = slot?.owner ?? this.#ownerOf(entry.deploymentId);
    if (owner) {
      this.#options.usage?.add(owner, {
        networkIngressBytes: entry.bodyIn,
        networkEgressBytes: entry.bodyOut,
      });
    }
    const instance = slot?.instance;
    instance?.used();
    if (slot) this.#busy.add(slot);
    // HAProxy refused the tenant's response head (over its buffer): its 502 cannot say so.
    if (entry.status === 502 && entry.termination.startsWith("PH")) {
      this.#options.appLog(
        entry.deploymentId,
        "error",
        oversizedHeadMessage(entry.method, entry.path),
      );
    }
    // HAProxy's server timeout fired: the tenant did not even answer its own time limit.
    if (entry.status === 504 && entry.termination.startsWith("sH") && instance) {
      const record = this.#options.store.getDeploymentRecord(entry.deploymentId);
      this.#options.appLog(
        entry.deploymentId,
        "error",
        timedOutMessage(
          record ? requestTimeoutMs(record) : DEFAULT_REQUEST_TIMEOUT_MS,
          entry.method,
          entry.path,
        ),
      );
      this.#options.runtime.recycle(instance, STUCK_PROCESS_REASON).catch(() => {});
    }
  }

  #ownerOf(deploymentId: string): UsageOwner | undefined {
    const record = this.#options.store.getDeploymentRecord(deploymentId);
    return record && { organizationId: record.organizationId, projectId: record.projectId };
  }

  // ---- plumbing ----

  /** Where HAProxy connects to reach the slot's occupant. */
  #slotSocket(slot: Slot): string {
    return join(this.#dir, "slots", `${slot.index}.sock`);
  }

  async #admin(commands: string[]): Promise<void> {
    if (commands.length === 0 || this.#closed) return;
    const answer = await this.#haproxy.command(...commands);
    const problems = answer.split("\n").filter((line) => line.trim() !== "");
    if (problems.length > 0) this.#options.log(`haproxy admin: ${problems.join("; ")}`);
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => this.#closed ? undefined as T : task());
    this.#queue = run.catch((error) => {
      this.#options.log(`front proxy: ${(error as Error).message}`);
    });
    return run;
  }
}

/**
 * The host's own server behind the proxy sees requests from a unix socket: give its handler
 * the client's address and an `http:` URL, as if it listened on the public port.
 */
export function behindProxy(
  handler: (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>,
): (request: Request, info: Deno.ServeHandlerInfo<Deno.Addr>) => Response | Promise<Response> {
  return (request, info) => {
    // Checked before the URL is built from it, which would throw.
    if (hostName(request) === undefined) return invalidHostResponse();
    const url = request.url.replace(/^http\+unix:/, "http:");
    // Not `new Request(url, request)`: a copy's signal would follow the client's, which the router
    // reads only while it waits for the tenant's answer, through copiedFrom(). A
    // WebSocket upgrade stays the server's own request, with its `http+unix:` URL: only that one
    // can be upgraded (a copy gets its 101 written, and the connection is then read as HTTP again).
    let forwarded = request;
    if (url !== request.url && !isWebSocketUpgrade(request)) {
      forwarded = new Request(url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
      });
      copiedFrom(forwarded, request);
    }
    const client = request.headers.get("x-forwarded-for") ?? "";
    return handler(forwarded, {
      ...info,
      remoteAddr: { transport: "tcp", hostname: client, port: 0 },
    } as Deno.ServeHandlerInfo);
  };
}

/** A free TCP port on `hostname` (HAProxy cannot bind port 0 and say which it got). */
function freePort(hostname: string): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function writePrivate(path: string, content: string): Promise<void> {
  await Deno.writeTextFile(path, content, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
}

/**
 * Makes `slotPath` name the unix socket at `socketPath`, replacing what it named at once (a
 * rename). A hard link: `connect()` finds a socket by its inode, and a link makes no inode,
 * where a symlink does: on this VM's ext4 a symlink cost 0.3–0.8 ms of the host's one thread
 * against 0.04 ms, times every process of a burst of cold starts. A symlink where the socket
 * cannot be linked (another file system, a kernel that protects hard links). Sync calls: a
 * trip through the I/O thread pool each would cost more.
 */
export function linkSlot(socketPath: string, slotPath: string): void {
  const temp = `${slotPath}.${crypto.randomUUID().slice(0, 8)}`;
  try {
    Deno.linkSync(socketPath, temp);
  } catch {
    Deno.symlinkSync(socketPath, temp);
  }
  Deno.renameSync(temp, slotPath);
}
