// Preloaded (`deno run --preload`) into every tenant process, before the tenant's entry module.
//
// It makes both styles of Deploy module serve on the unix socket the host routes to:
// `Deno.serve(handler)` is captured and re-bound to the socket, and a module that only has
// `export default { fetch }` is served once it has finished loading. Plain JS so it needs no
// transpiling on a cold start.

// ---- app logs: every console call becomes one tagged line (read by host/tenant/output.ts) ----

const LOG_TAG = "\x1e";
const MAX_MESSAGE_LENGTH = 32 * 1024;
const encoder = new TextEncoder();
// Bound now, so tenant code that patches them later cannot see or break the channel.
const writeStdout = Deno.stdout.writeSync.bind(Deno.stdout);
const stringify = JSON.stringify;
const inspect = Deno.inspect;
const exitNow = Deno.exit;
const apply = Reflect.apply;

function writeTagged(record) {
  const bytes = encoder.encode(LOG_TAG + stringify(record) + "\n");
  try {
    for (let written = 0; written < bytes.length;) {
      written += writeStdout(bytes.subarray(written));
    }
  } catch {
    // The host's end is closed: it is gone. Throwing instead would make an uncaught error,
    // whose report fails the same way, a chain of microtasks the lifeline never gets past.
    exitNow(0);
  }
}

// A handler's stack passes through the bootstrap's wrappers (the time limit, the client's address):
// their frames are the host's, which Deploy's logs do not show, so a logged stack drops them.
const BOOTSTRAP_URL = import.meta.url;
const isOwnFrame = (line) => line.trimStart().startsWith("at ") && line.includes(BOOTSTRAP_URL);

function writeLog(level, message) {
  if (message.includes(BOOTSTRAP_URL)) {
    message = message.split("\n").filter((line) => !isOwnFrame(line)).join("\n");
  }
  if (message.length > MAX_MESSAGE_LENGTH) {
    const cut = message.length - MAX_MESSAGE_LENGTH;
    message = `${message.slice(0, MAX_MESSAGE_LENGTH)}… [${cut} more characters not kept]`;
  }
  writeTagged({ level, message });
}

// Deno's own Console formats exactly as `deno run` does (%s, tables, groups, traces) and
// tells its print function the level: 0 debug, 1 log/info, 2 warn, 3 error, 4 trace.
const PRINT_LEVELS = ["debug", "info", "warning", "error", "info"];
const InternalConsole = Deno[Deno.internal]?.Console;
if (typeof InternalConsole === "function") {
  const partial = PRINT_LEVELS.map(() => "");
  const tagged = new InternalConsole((text, level) => {
    // console.trace prints its stack and the final newline in two calls.
    partial[level] = (partial[level] ?? "") + text;
    if (!partial[level].endsWith("\n")) return;
    const message = partial[level].slice(0, -1);
    partial[level] = "";
    writeLog(PRINT_LEVELS[level] ?? "info", message);
  });
  for (const key of Object.keys(tagged)) {
    if (typeof tagged[key] === "function") console[key] = tagged[key];
  }
} else {
  const format = (args) => args.map((a) => typeof a === "string" ? a : inspect(a)).join(" ");
  const methods = { debug: "debug", log: "info", info: "info", warn: "warning", error: "error" };
  for (const [method, level] of Object.entries(methods)) {
    console[method] = (...args) => writeLog(level, format(args));
  }
}

// An uncaught error is logged whole, then the process exits as Deno would, unless the
// tenant's own listener handles it (preventDefault) and keeps the process alive.
for (const type of ["error", "unhandledrejection"]) {
  globalThis.addEventListener(type, (event) => {
    let handled = false;
    const preventDefault = event.preventDefault.bind(event);
    event.preventDefault = () => {
      handled = true;
      preventDefault();
    };
    preventDefault();
    const error = type === "error" ? event.error ?? event.message : event.reason;
    queueMicrotask(() => {
      if (handled) return;
      const prefix = type === "error" ? "Uncaught" : "Uncaught (in promise)";
      writeLog("error", `${prefix} ${typeof error === "string" ? error : inspect(error)}`);
      Deno.exit(1);
    });
  });
}

// ---- lifeline: the host holds the other end of stdin; EOF means it is gone ----

// A pooled runtime (host/tenant/warm_pool.ts) is started before its deployment is known: the host
// hands it one as a single JSON line on the lifeline, and never writes again.
const pooled = Deno.env.get("DENO_DEPLOYMENT_POOL") === "1";
Deno.env.delete("DENO_DEPLOYMENT_POOL");

// What the host and Deno set for the runtime itself (the cache dir, the update check, HOME,
// the node shims' PATH): read at start, then none of the deployment's business. It sees only
// what Deploy sets (DENO_DEPLOYMENT_ID, DENO_REGION) and its own variables.
for (const name of (Deno.env.get("DENO_DEPLOYMENT_HOST_VARIABLES") ?? "").split(",")) {
  if (name) Deno.env.delete(name);
}
Deno.env.delete("DENO_DEPLOYMENT_HOST_VARIABLES");
let receiveHandoff = () => {};
const handoff = new Promise((resolve) => receiveHandoff = resolve);

const readStdin = Deno.stdin.read.bind(Deno.stdin);
// The host writes JSON lines: a pooled runtime's deployment first, then commands (a cron job
// to run). EOF means the host is gone.
async function followHost() {
  const buffer = new Uint8Array(16 * 1024);
  const decoder = new TextDecoder();
  let pending = "";
  let handedOver = !pooled;
  try {
    for (let read; (read = await readStdin(buffer)) !== null;) {
      pending += decoder.decode(buffer.subarray(0, read), { stream: true });
      for (let end; (end = pending.indexOf("\n")) >= 0;) {
        const record = JSON.parse(pending.slice(0, end));
        pending = pending.slice(end + 1);
        if (!handedOver) {
          handedOver = true;
          receiveHandoff(record);
        } else if (typeof record.cron === "string") {
          runCron(record.cron);
        } else if (record.stop === true) {
          shutDown();
        }
      }
    }
  } catch { /* closed under us: treated like EOF */ }
  exitNow(0);
}
// Deno runs the event loop dry after a preload before it loads the main module, so a pending
// read would hold the tenant up: unref it (Deno's own symbol), or else start after the load.
const UNREF = Object.getOwnPropertySymbols(Object.getPrototypeOf(Deno.stdin))
  .find((symbol) => symbol.description === "UNREF");
if (UNREF) {
  Deno.stdin[UNREF]();
  followHost();
} else {
  globalThis.addEventListener("load", followHost);
}

const socketPath = Deno.env.get("DENO_DEPLOYMENT_SOCKET");
Deno.env.delete("DENO_DEPLOYMENT_SOCKET");
if (!socketPath) throw new Error("bootstrap: DENO_DEPLOYMENT_SOCKET is not set");

// Writing the socket's path is granted for the listen alone, but Deno's grant of a path covers
// every path beneath it: a deployment that removed its socket and made a directory of the name
// could fill the host's disk with files there. Once the socket is bound the grant is revoked
// (taken now: the deployment's code could replace Deno.permissions before it listens).
const revokePermission = Deno.permissions.revokeSync.bind(Deno.permissions);
function sealSocket() {
  revokePermission({ name: "write", path: socketPath });
}

// The deployment's time limit per request (host/tenant/limits.ts): answered here while the event
// loop runs; the host's router or front proxy restarts the process if even this cannot run.
let requestTimeoutMs = Number(Deno.env.get("DENO_DEPLOYMENT_TIME_LIMIT_MS")) || 0;
Deno.env.delete("DENO_DEPLOYMENT_TIME_LIMIT_MS");

// A process started for a build's check or a restart's restore gets warm-up requests from the
// host before any caller's (host/tenant/warm_pool.ts): Deno's HTTP server warms up off the
// callers' path. The first comes from the host itself, the second through HAProxy, which then
// keeps a connection open for the first caller's. They carry a secret only the host knows, and
// never reach the deployment. (A pooled runtime's comes before its handoff: see the pool below.)
const warmUpSecret = Deno.env.get("DENO_DEPLOYMENT_WARM_UP");
Deno.env.delete("DENO_DEPLOYMENT_WARM_UP");
const WARM_UP_HEADER = "x-deploy-tenant-warm-up";
const WARM_UPS = 2;
// A caller's request may come between them (the host's router serves a process before HAProxy
// routes to it), or the second never (no HAProxy): only the first few requests are checked.
const WARM_UP_CHECKS = 4;

/** Whether `request` is one of the host's warm-ups (it carries the secret). */
function isWarmUp(request) {
  return Boolean(warmUpSecret) && request.headers.get(WARM_UP_HEADER) === warmUpSecret;
}

/** `handler`, but the host's warm-ups among the first requests are answered here. */
function withWarmUp(handler) {
  if (!warmUpSecret || pooled) return handler;
  let warmUps = 0;
  let checks = 0;
  return (request, info) => {
    // Reading the headers costs a caller's first request a fraction of a millisecond: not
    // once the warm-ups are in.
    if (warmUps < WARM_UPS && checks < WARM_UP_CHECKS) {
      checks++;
      if (isWarmUp(request)) {
        warmUps++;
        return new Response("warm");
      }
    }
    return handler(request, info);
  };
}

// Deno.openKv() opens the deployment's bound database, and only that one, as on Deploy.
const kvPath = Deno.env.get("DENO_DEPLOYMENT_KV_PATH");
Deno.env.delete("DENO_DEPLOYMENT_KV_PATH");
const realOpenKv = Deno.openKv;
if (typeof realOpenKv === "function") {
  Object.defineProperty(Deno, "openKv", {
    configurable: true,
    writable: true,
    value: function openKv(path) {
      // Deploy's own messages (deploy_feedback #785).
      if (path !== undefined) {
        return Promise.reject(new Error("Non-default databases are not supported"));
      }
      if (!kvPath) return Promise.reject(new Error("Default database is not available"));
      return realOpenKv(kvPath);
    },
  });
}

// A server listening on 0.0.0.0 lists the addresses it can be reached at (Fastify does, through
// os.networkInterfaces()), which Deno refuses without --allow-sys. The host's interfaces are no
// tenant's business, so the answer is the one a deployment can serve on: its loopback. Node's
// os.networkInterfaces() reads Deno.networkInterfaces(), so this covers both.
Object.defineProperty(Deno, "networkInterfaces", {
  configurable: true,
  writable: true,
  value: function networkInterfaces() {
    return [{
      family: "IPv4",
      name: "lo",
      address: "127.0.0.1",
      netmask: "255.0.0.0",
      scopeid: null,
      cidr: "127.0.0.1/8",
      mac: "00:00:00:00:00:00",
    }];
  },
});

// ---- timers, loaded only when one is needed ----

// Deno loads its timers the first time `setTimeout` is read, and from then on the process wakes
// up every few seconds, idle or not (Deno 2.9: three wake-ups and ~1.3 ms of CPU per 10 s; a
// thousand idle tenants, 13% of a core). So the bootstrap keeps the global's getter, not its
// value, until it arms a timer: a tenant that never uses timers never loads them, and tenant
// code that replaces `setTimeout` later still cannot reach the bootstrap's.
const timeoutProperty = Object.getOwnPropertyDescriptor(globalThis, "setTimeout");
function setTimer(callback, ms) {
  const real = timeoutProperty?.get ? timeoutProperty.get.call(globalThis) : timeoutProperty?.value;
  return real(callback, ms);
}
const clearTimeoutProperty = Object.getOwnPropertyDescriptor(globalThis, "clearTimeout");
function clearTimer(id) {
  const real = clearTimeoutProperty?.get
    ? clearTimeoutProperty.get.call(globalThis)
    : clearTimeoutProperty?.value;
  real(id);
}

// ---- usage: KV operations counted for analytics, reported on the log channel ----

let kvReads = 0;
let kvWrites = 0;
// Armed by the first operation after a report, so an idle tenant never wakes up for it.
let kvReport;

function reportKvUsage() {
  kvReport = undefined;
  if (kvReads === 0 && kvWrites === 0) return;
  writeTagged({ kv: [kvReads, kvWrites] });
  kvReads = 0;
  kvWrites = 0;
}

/** A KV operation was counted: the report goes out within a second. */
function counted() {
  if (kvReport === undefined) {
    kvReport = setTimer(reportKvUsage, 1000);
    Deno.unrefTimer(kvReport);
  }
}

/** Wraps method `name` of `target`: `count(args, result, self)` runs after each call. */
function countCalls(target, name, count) {
  const original = target[name];
  if (typeof original !== "function") return;
  target[name] = function (...args) {
    const result = original.apply(this, args);
    count(args, result, this);
    counted();
    return result;
  };
}

// Counted on the classes' prototypes, so that every way to an operation is counted (a method
// taken from a prototype and called on an instance too).
if (typeof Deno.Kv === "function") {
  const keys = (args) => Array.isArray(args[0]) ? args[0].length : 0;
  const kv = Deno.Kv.prototype;
  const uncountedGetMany = kv.getMany;
  // Beneath the counting below: a write tried again is counted once.
  for (
    const [target, name] of [[kv, "set"], [kv, "delete"], [kv, "enqueue"], [
      Deno.AtomicOperation?.prototype,
      "commit",
    ]]
  ) {
    const original = target?.[name];
    if (typeof original !== "function") continue;
    target[name] = function (...args) {
      return original.apply(this, args)
        .catch((error) => whenUnlocked(() => original.apply(this, args), error));
    };
  }
  countCalls(kv, "get", () => kvReads++);
  countCalls(kv, "getMany", (args) => kvReads += keys(args));
  countCalls(kv, "watch", (args) => kvReads += keys(args));
  countCalls(kv, "set", () => kvWrites++);
  countCalls(kv, "delete", () => kvWrites++);
  countCalls(kv, "enqueue", () => kvWrites++);
  // A queue's deliveries start a deployment on Deploy; here its process is kept warm instead.
  let listensToQueue = false;
  countCalls(kv, "listenQueue", () => {
    if (!listensToQueue) writeTagged({ queue: true });
    listensToQueue = true;
  });
  // One read per entry listed.
  const list = Deno.KvListIterator?.prototype;
  const next = list?.next;
  if (typeof next === "function") {
    list.next = async function (...args) {
      const step = await next.apply(this, args);
      if (!step.done) {
        kvReads++;
        counted();
      }
      return step;
    };
  }
  // An atomic operation counts one write per mutation, once it commits.
  const atomic = Deno.AtomicOperation?.prototype;
  if (atomic && typeof atomic.commit === "function") {
    const mutations = new WeakMap();
    const add = (operation, n) => mutations.set(operation, (mutations.get(operation) ?? 0) + n);
    for (const name of ["set", "delete", "sum", "min", "max", "enqueue"]) {
      countCalls(atomic, name, (_args, _result, operation) => add(operation, 1));
    }
    countCalls(atomic, "mutate", (args, _result, operation) => add(operation, args.length));
    const commit = atomic.commit;
    atomic.commit = async function (...args) {
      const result = await commit.apply(this, args);
      if (result?.ok) {
        kvWrites += mutations.get(this) ?? 0;
        counted();
      }
      mutations.delete(this);
      return result;
    };
  }
  globalThis.addEventListener("unload", reportKvUsage);

  if (typeof kv.watch === "function" && typeof uncountedGetMany === "function") {
    kv.watch = watchingOtherWriters(kv.watch, uncountedGetMany);
  }

  // The host limits the database's file size (the process's RLIMIT_FSIZE): SQLite's write past
  // it fails as "disk I/O error", which this names, so that the customer knows what to do.
  const kvMaxBytes = Number(Deno.env.get("DENO_DEPLOYMENT_KV_MAX_BYTES")) || 0;
  Deno.env.delete("DENO_DEPLOYMENT_KV_MAX_BYTES");
  const full = `the KV database is at its size limit (${formatBytes(kvMaxBytes)}): ` +
    "delete entries to make room";
  const explainFull = (error) => {
    if (kvMaxBytes && error?.message === "disk I/O error") error.message += ` (${full})`;
    throw error;
  };
  for (const [target, name] of [[kv, "set"], [kv, "delete"], [kv, "enqueue"], [atomic, "commit"]]) {
    const original = target?.[name];
    if (typeof original !== "function") continue;
    target[name] = function (...args) {
      return original.apply(this, args).catch(explainFull);
    };
  }
}

// Deployments bound to one database are processes writing one SQLite file, and Deno's local KV
// gives up at once on a write while another process holds the lock ("database is locked"). On
// Deploy a write never fails for that, so a locked write is tried again, as SQLite's busy
// timeout would, for up to KV_LOCK_WAIT_MS. Nothing was written: the write is whole or not at all.
const KV_LOCK_WAIT_MS = 5_000;
const monotonic = performance.now.bind(performance);

/** `write()` tried again while it fails because the database is locked; else `error`. */
async function whenUnlocked(write, error) {
  const deadline = monotonic() + KV_LOCK_WAIT_MS;
  let pause = 1;
  while (error?.message === "database is locked" && monotonic() < deadline) {
    // Jittered, so that writers that collided do not collide again.
    await new Promise((resolve) => setTimer(resolve, pause * (0.5 + Math.random())));
    pause = Math.min(pause * 2, 50);
    try {
      return await write();
    } catch (next) {
      error = next;
    }
  }
  throw error;
}

// How often a watch re-reads its keys for writes made by other processes.
const WATCH_POLL_MS = 500;

/**
 * Wraps `Deno.Kv.prototype.watch` so that a watch also sees writes other processes make.
 *
 * Deno's local KV wakes a watcher only for writes made in its own process, but a database here
 * is shared: by every deployment bound to it (each a process of its own) and by the host (`db
 * clear`). On Deploy a watcher sees every write to its database. So the stream a watch returns
 * also re-reads its keys every {@link WATCH_POLL_MS} and passes on what changed; Deno's own
 * stream still answers this process's writes at once. Only a tenant that watches pays for it.
 */
function watchingOtherWriters(watch, getMany) {
  return function (keys, options) {
    const local = watch.call(this, keys, options).getReader();
    const reread = () => getMany.call(this, keys);
    const raw = options?.raw === true;
    // The versionstamps last passed on; none until Deno's stream gives the first entries.
    let last;
    let timer;
    let ended = false;
    const fresh = (entries) => entries.some((entry, i) => entry.versionstamp !== last[i]);
    const pass = (controller, entries) => {
      last = entries.map((entry) => entry.versionstamp);
      controller.enqueue(entries);
    };
    const end = () => {
      ended = true;
      if (timer !== undefined) clearTimer(timer);
    };
    return new ReadableStream({
      start(controller) {
        const poll = async () => {
          timer = undefined;
          try {
            const entries = await reread();
            if (!ended && last && fresh(entries)) pass(controller, entries);
          } catch {
            return; // the database was closed: Deno's stream ends this one
          }
          if (!ended) arm();
        };
        const arm = () => {
          timer = setTimer(poll, WATCH_POLL_MS);
          Deno.unrefTimer(timer);
        };
        arm();
      },
      async pull(controller) {
        for (;;) {
          const step = await local.read().catch((error) => {
            end();
            throw error;
          });
          if (step.done) {
            end();
            controller.close();
            return;
          }
          // What the re-read already passed on is not passed on twice.
          if (raw || !last || fresh(step.value)) return pass(controller, step.value);
        }
      },
      cancel(reason) {
        end();
        return local.cancel(reason);
      },
    });
  };
}

/** 1073741824 → "1 GiB", 4194304 → "4 MiB". */
function formatBytes(bytes) {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let unit = 0;
  while (bytes >= 1024 && unit < units.length - 1) {
    bytes /= 1024;
    unit++;
  }
  return `${Math.round(bytes * 10) / 10} ${units[unit]}`;
}

// ---- the Cache API: best-effort, as on Deploy ----

// Deno keeps `caches` under DENO_DIR/location_data, which the sandbox makes a small tmpfs
// (host/tenant/sandbox.ts CACHE_STORAGE_BYTES) so that a tenant cannot fill the host's disk. A put
// that finds it full is not an error here, as Deploy's cache drops entries: the entry is not kept,
// and the oldest entries this process put go, so that later ones fit.
const CachePrototype = globalThis.Cache?.prototype;
if (CachePrototype && typeof CachePrototype.put === "function") {
  const put = CachePrototype.put;
  const remove = CachePrototype.delete;
  /** [cache, request] of each entry put, oldest first. */
  const entries = [];
  const isFull = (error) =>
    /No space left|os error 28|QuotaExceeded/i.test(String(error?.message ?? error));
  CachePrototype.put = async function (request, response) {
    try {
      const result = await apply(put, this, [request, response]);
      entries.push([this, request]);
      return result;
    } catch (error) {
      if (!isFull(error)) throw error;
      await apply(remove, this, [request]).catch(() => {});
      for (const [cache, key] of entries.splice(0, Math.ceil(entries.length / 2))) {
        await apply(remove, cache, [key]).catch(() => {});
      }
      return undefined;
    }
  };
}

// ---- a request as Deploy shows it: the URL the client asked for, the client's address ----

// The tenant serves on a unix socket, so Deno gives its requests `http+unix:` URLs (whose origin
// is "null": `new URL("/next", request.url)` would make a redirect no browser follows) and a
// unix remote address. The host and HAProxy forward the scheme and the client's address in
// headers no client can set (x-forwarded-proto, x-forwarded-for), read only when asked for:
// a handler that never looks pays nothing.
const UNIX_SCHEME = "http+unix";
const rawUrl = Object.getOwnPropertyDescriptor(Request.prototype, "url").get;
const rawHeaders = Object.getOwnPropertyDescriptor(Request.prototype, "headers").get;
const getHeader = Headers.prototype.get;
/**
 * The request header `name` of `request`, through functions tenant code cannot replace; `null`
 * once Deno.upgradeWebSocket() has taken the request over (its headers are gone then, and Deno
 * reads the URL after that).
 */
function headerOf(request, name) {
  try {
    return apply(getHeader, apply(rawHeaders, request, []), [name]);
  } catch {
    return null;
  }
}
/** Each request's URL as first read, so that it reads the same after an upgrade. */
const deployUrls = new WeakMap();
Object.defineProperty(Request.prototype, "url", {
  configurable: true,
  enumerable: true,
  get: function url() {
    const raw = apply(rawUrl, this, []);
    if (!raw.startsWith(UNIX_SCHEME + "://")) return raw;
    let url = deployUrls.get(this);
    if (url === undefined) {
      const scheme = headerOf(this, "x-forwarded-proto") === "https" ? "https" : "http";
      url = scheme + raw.slice(UNIX_SCHEME.length);
      deployUrls.set(this, url);
    }
    return url;
  },
});

// Deno.upgradeWebSocket() takes the request's headers away and then reads its URL: read it
// first, while x-forwarded-proto is still there, or a wss:// request would read as http://.
const realUpgradeWebSocket = Deno.upgradeWebSocket;
Object.defineProperty(Deno, "upgradeWebSocket", {
  configurable: true,
  writable: true,
  value: function upgradeWebSocket(request, options) {
    try {
      request?.url;
    } catch { /* not a Request: Deno's own error follows */ }
    return realUpgradeWebSocket(request, options);
  },
});

/** What a deployment's handler gets as its second argument: the client's address, not ours. */
class ClientInfo {
  #request;
  #info;
  constructor(request, info) {
    this.#request = request;
    this.#info = info;
  }
  get remoteAddr() {
    const client = headerOf(this.#request, "x-forwarded-for")?.split(",")[0].trim();
    return { transport: "tcp", hostname: client || "127.0.0.1", port: 0 };
  }
  get completed() {
    return this.#info.completed;
  }
}

/** `handler`, given the client's address as Deploy gives it. */
function withClientInfo(handler) {
  return (request, info) => handler(request, new ClientInfo(request, info));
}

// How deep the request being handled sits in a chain of fetches of the host's names (A calls B,
// which calls A …): the host refuses a chain past its cap (self_fetch.ts MAX_FETCH_DEPTH), as it
// refuses a deployment's fetch of itself. The host sets the header on each such request from what
// the fetch that made it said here. Tracked once the process has fetched one of the host's names:
// a process that never does reads no header and runs no handler in a context.
const FETCH_DEPTH_HEADER = "x-deploy-tenant-fetch-depth"; // self_fetch.ts FETCH_DEPTH_HEADER
let fetchDepth; // node:async_hooks AsyncLocalStorage, from the process's first such fetch

/** `handler`, run knowing its request's depth once the process tracks it. */
function withFetchDepth(handler) {
  return (request, info) => {
    if (!fetchDepth) return handler(request, info);
    const depth = Number(headerOf(request, FETCH_DEPTH_HEADER)) || 0;
    return fetchDepth.run(depth, handler, request, info);
  };
}

const realServe = Deno.serve;
let server = null;

// Deno's default, but through the tagged console so it is logged as an error.
function logHandlerError(error) {
  console.error(error);
  return new Response("Internal Server Error", { status: 500 });
}

// Bound now: tenant code that replaces these later cannot disarm the time limit.
const now = performance.now.bind(performance);
const RealPromise = Promise;
const RealResponse = Response;
const jsonBody = (value) => stringify(value);

// Requests awaiting their handler's answer, oldest first. Every request has the same limit, so
// the oldest is also the next to expire and one timer serves them all: a timer per request
// (setTimeout, Promise.race, clearTimeout) cost ~1.9 µs of every async request, this ~0.3 µs.
const waiting = new Set();
let timerArmed = false;

function armTimer(ms) {
  timerArmed = true;
  setTimer(expireLate, ms);
}

function expireLate() {
  timerArmed = false;
  const time = now();
  for (const entry of waiting) {
    if (entry.deadline > time) return armTimer(entry.deadline - time);
    waiting.delete(entry);
    entry.expire();
  }
}

/** The 504 of a request its handler did not answer within the time limit; logged. */
function timeLimitAnswer(request) {
  return new RealResponse(timeLimitBody(request.method, new URL(request.url).pathname), {
    status: 504,
    headers: { "content-type": "application/json" },
  });
}

/** The body of a time limit's 504 for `method` and `path`; logs the request that timed out. */
function timeLimitBody(method, path) {
  writeLog(
    "error",
    `Request timed out after ${requestTimeoutMs} ms: ${method} ${path} (TIME_LIMIT)`,
  );
  return jsonBody({
    code: "TIME_LIMIT",
    message: `The deployment did not answer within its time limit of ${requestTimeoutMs} ms`,
  });
}

/** `handler`'s answer, or a 504 TIME_LIMIT when it has not come within the time limit. */
function withTimeLimit(handler) {
  if (!(requestTimeoutMs > 0)) return handler;
  return (request, info) => {
    const answer = handler(request, info);
    if (typeof answer?.then !== "function") return answer; // a synchronous handler cannot be late
    return new RealPromise((resolve, reject) => {
      const entry = {
        deadline: now() + requestTimeoutMs,
        expire: () => resolve(timeLimitAnswer(request)),
      };
      waiting.add(entry);
      if (!timerArmed) armTimer(requestTimeoutMs);
      // Through resolve(): a thenable whose then() throws rejects instead of leaving the entry.
      RealPromise.resolve(answer).then(
        (response) => {
          waiting.delete(entry);
          resolve(response);
        },
        (error) => {
          waiting.delete(entry);
          reject(error);
        },
      );
    });
  };
}

// Deploy compresses a response (gzip or brotli) for a client that accepts it when its type is
// compressible and it is not encoded already (Classic at its edge; the new Deploy's Deno.serve
// by default), making a strong ETag weak. Deno 2.9's Deno.serve does it only when asked
// (`automaticCompression`, which a deployment may still set to false), and the socket is
// listened on by the bootstrap: it asks, in Deno's internals, as cheap as it gets. A pooled
// runtime's server is made before its deployment is known, so a module that names the option
// starts on its own (warm_pool.ts).
const DEPLOY_COMPRESSES = true;

/** The address a deployment's Deno.serve listens on as Deploy tells it. */
function deployListenAddress() {
  return { transport: "tcp", hostname: "0.0.0.0", port: 8000 };
}

function listen(handler, options = {}) {
  if (server) {
    throw new Error("Deno.serve() was called twice: a deployment serves one handler");
  }
  if (typeof handler !== "function") {
    throw new TypeError("Deno.serve() needs a handler function");
  }
  const onError = options.onError ?? logHandlerError;
  // The warm-ups are answered innermost, so that they run the wrappers a caller's request runs:
  // a wrapper's first run costs a process's first caller ~0.1 ms of CPU (32 restored tenants'
  // first requests: 13 ms of their CPU with the warm-up outermost, 9.7 ms with it here).
  const limited = withTimeLimit(withClientInfo(withFetchDepth(withWarmUp(handler))));
  if (pooledServer) {
    // Listening since boot (and warmed up): from now on it serves the deployment, starting
    // with the requests that came while it loaded.
    dispatch = limited;
    dispatchError = onError;
    server = pooledServer;
    deploymentServes.resolve();
  } else {
    try {
      server = realServe({
        path: socketPath,
        onListen() {},
        onError,
        automaticCompression: options.automaticCompression ?? DEPLOY_COMPRESSES,
      }, limited);
    } finally {
      // Even when the listen failed (a directory the deployment made of the name is in the way):
      // it makes nothing more there.
      sealSocket();
    }
  }
  // Bound already (onListen comes a turn later): the host need not wait for its next look.
  writeTagged({ listening: true });
  // As on Deploy, the deployment's onListen and the server's addr say it listens on TCP (the
  // socket is the host's): code that logs or builds URLs from `server.addr` gets a port.
  server.addr = deployListenAddress();
  if (typeof options.onListen === "function") {
    const onListen = options.onListen;
    queueMicrotask(() => onListen(deployListenAddress()));
  }
  // The host's socket is listened on without the deployment's options: its signal stops the
  // server as Deno's does (`finished` settles, and the process ends unless something else runs).
  const signal = options.signal;
  if (signal instanceof AbortSignal) {
    const stop = () => server.shutdown();
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
  }
  return server;
}

Object.defineProperty(Deno, "serve", {
  configurable: true,
  writable: true,
  value: function serve(first, second) {
    if (typeof first === "function") return listen(first, second ?? {});
    const options = first ?? {};
    const handler = typeof second === "function" ? second : options.handler ?? options.fetch;
    return listen(handler, options);
  },
});

// ---- fetches of the host's own names: a hook calling another deployment, as on Deploy ----

// A hook calling another deployment of the platform: on Deploy it goes out and comes back in (a
// fetch of the deployment itself is refused there, and by the host here: 508 LOOP_DETECTED).
// Here the host's names resolve to the machine's own addresses (or, under `localhost`, to none),
// which the deployment may not reach; so the host listens on a socket given to every deployment
// that may reach all public hosts (host/edge/self_fetch.ts), which serves the host's deployments
// alone. A name under the host's domain goes there at once; any
// other whose address was refused (a custom domain pointing at this machine) is tried there
// after, when its body can be sent again, and the refusal stands if no deployment is served
// there. Read at start, like the other variables the host sets.
const edgeSocket = Deno.env.get("DENO_DEPLOYMENT_EDGE_SOCKET");
Deno.env.delete("DENO_DEPLOYMENT_EDGE_SOCKET");
const hostDomain = Deno.env.get("DENO_DEPLOYMENT_BASE_DOMAIN");
Deno.env.delete("DENO_DEPLOYMENT_BASE_DOMAIN");
if (edgeSocket && hostDomain) {
  const realFetch = globalThis.fetch;
  const createHttpClient = Deno.createHttpClient;
  const NotCapable = Deno.errors.NotCapable;
  const RealRequest = Request;
  const RealReadableStream = ReadableStream;
  const RealURL = URL;
  const hostSuffix = "." + hostDomain;
  // The router's mark (self_fetch.ts NOT_SERVED_HERE) of a name no deployment is served at.
  const notServedHere = (response) =>
    response.headers.get("x-deploy-tenant-router-error") === "notServedHere";
  let edgeClient;
  /** `fetch(input, init)` through the host's socket, saying how deep in a chain it is. */
  const throughEdge = async (input, init) => {
    edgeClient ??= createHttpClient({ proxy: { transport: "unix", path: edgeSocket } });
    if (!fetchDepth) {
      const { AsyncLocalStorage } = await import("node:async_hooks");
      fetchDepth ??= new AsyncLocalStorage();
    }
    const request = new RealRequest(input, init);
    request.headers.set(FETCH_DEPTH_HEADER, String((fetchDepth.getStore() ?? 0) + 1));
    return await apply(realFetch, globalThis, [request, { client: edgeClient }]);
  };
  // Deno refuses a literal address (NotCapable) or, after a look-up, the address it found.
  const refused = (error) =>
    error instanceof NotCapable || /Requires net access/.test(String(error?.cause?.message));
  // A body read by the refused attempt cannot be sent again.
  const streamed = (input, init) =>
    init?.body instanceof RealReadableStream ||
    typeof init?.body?.[Symbol.asyncIterator] === "function" ||
    (init?.body === undefined && input instanceof RealRequest && input.body !== null);
  globalThis.fetch = function fetch(input, init = undefined) {
    let url;
    try {
      url = new RealURL(input instanceof RealRequest ? input.url : String(input));
    } catch {
      return apply(realFetch, globalThis, [input, init]); // Deno's own error
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return apply(realFetch, globalThis, [input, init]);
    }
    if (url.hostname.endsWith(hostSuffix)) {
      return throughEdge(input, init);
    }
    const sent = apply(realFetch, globalThis, [input, init]);
    if (streamed(input, init)) return sent;
    return sent.catch(async (error) => {
      if (!refused(error)) throw error;
      let response;
      try {
        response = await throughEdge(input, init);
      } catch {
        throw error;
      }
      if (!notServedHere(response)) return response;
      await response.body?.cancel();
      throw error;
    });
  };
}

// ---- Node's HTTP server: `http.createServer(app).listen(8000)` serves, as on Deploy ----

// Express, Koa and frameworks' Node adapters listen on a TCP port with `node:net` underneath, which
// the sandbox does not allow: the first such listen of a process listens on the host's socket
// instead. Loading Node's `net` costs a start ~20–50 ms, so only a deployment the host found may
// use it is told to (host/tenant/node_server.ts).
const nodeServer = Deno.env.get("DENO_DEPLOYMENT_NODE_SERVER") === "1";
Deno.env.delete("DENO_DEPLOYMENT_NODE_SERVER");
if (nodeServer) {
  const { Server } = await import("node:net");
  const realListen = Server.prototype.listen;
  const realAddress = Server.prototype.address;
  /** Servers listening on the socket in place of a port, and the port they asked for. */
  const redirected = new WeakMap();
  Server.prototype.listen = function listen(...args) {
    const port = tcpPort(args);
    if (port === undefined || server) return apply(realListen, this, args);
    server = this;
    redirected.set(this, port);
    // Node closes a connection idle for 5 s: one HAProxy or the host reuses at that moment would
    // fail its request. A Deno.serve server keeps them, as this one now does, unless told.
    if (this.keepAliveTimeout === 5_000) this.keepAliveTimeout = 0;
    answerNodeWarmUps(this);
    limitNodeRequests(this);
    this.prependListener("request", showClientAddress);
    this.once("listening", () => {
      sealSocket();
      writeTagged({ listening: true });
    });
    const callback = args.findLast((arg) => typeof arg === "function");
    return apply(
      realListen,
      this,
      callback ? [{ path: socketPath }, callback] : [{ path: socketPath }],
    );
  };
  // As on Deploy, the server says it listens on the TCP port it asked for (the socket is the host's).
  Server.prototype.address = function address() {
    const port = redirected.get(this);
    if (port === undefined) return apply(realAddress, this, []);
    return { address: "0.0.0.0", family: "IPv4", port: port || 8000 };
  };
}

/**
 * A Node server's request comes from the client's address, as on Deploy (Express's `req.ip`, Koa's
 * `ctx.ip` read the socket's): the socket is the host's unix one, so its address is the one the
 * host forwards (see ClientInfo). Set at each request, as HAProxy reuses a connection for others'.
 */
function showClientAddress(request) {
  const client = request.headers?.["x-forwarded-for"]?.split(",")[0].trim() || "127.0.0.1";
  const shown = {
    remoteAddress: client,
    remoteFamily: client.includes(":") ? "IPv6" : "IPv4",
    remotePort: 0, // as info.remoteAddr's
  };
  for (const [name, value] of Object.entries(shown)) {
    Object.defineProperty(request.socket, name, { configurable: true, value });
  }
}

/** The TCP port a `net.Server#listen(...)` call asks for, or `undefined` for a path or a handle. */
function tcpPort(args) {
  let [first] = args;
  if (first === null || first === undefined || typeof first === "function") return 0;
  if (typeof first === "object") {
    if (first.path !== undefined || first.handle !== undefined || first.fd !== undefined) {
      return undefined;
    }
    if (first._handle !== undefined) return undefined; // a server or socket's handle
    first = first.port ?? 0;
  }
  if (typeof first === "number") return first;
  if (typeof first === "string" && /^\d*$/.test(first)) return Number(first);
  return undefined; // a path
}

/** The host's warm-ups among a Node server's first requests are answered here (see withWarmUp). */
function answerNodeWarmUps(nodeHttpServer) {
  if (!warmUpSecret) return;
  const emit = nodeHttpServer.emit;
  let warmUps = 0;
  let checks = 0;
  nodeHttpServer.emit = function (event, ...rest) {
    if (event === "request" && warmUps < WARM_UPS && checks < WARM_UP_CHECKS) {
      checks++;
      const [request, response] = rest;
      if (request.headers?.[WARM_UP_HEADER] === warmUpSecret) {
        warmUps++;
        response.end("warm");
        return true;
      }
    }
    return apply(emit, this, [event, ...rest]);
  };
}

/**
 * A Node server's request not answered within the time limit gets the 504 (see withTimeLimit),
 * and what its handler writes later goes nowhere, as a late Response does.
 */
function limitNodeRequests(nodeHttpServer) {
  if (!(requestTimeoutMs > 0)) return;
  nodeHttpServer.prependListener("request", (request, response) => {
    const timer = setTimer(() => {
      if (response.headersSent || response.writableEnded) return;
      const path = String(request.url ?? "/").split("?")[0];
      response.writeHead(504, { "content-type": "application/json" });
      response.end(timeLimitBody(request.method, path));
      for (
        const name of ["writeHead", "setHeader", "appendHeader", "removeHeader", "write", "end"]
      ) {
        response[name] = function () {
          return name === "write" ? false : this;
        };
      }
    }, requestTimeoutMs);
    response.once("close", () => clearTimer(timer));
  });
}

globalThis.addEventListener("load", async () => {
  if (server) return;
  const mod = await import(handedEntry ?? Deno.mainModule);
  const entry = mod.default;
  if (entry && typeof entry.fetch === "function") {
    listen((request, info) => entry.fetch(request, info));
    return;
  }
  console.error(
    "The entry point neither calls Deno.serve() nor has `export default { fetch }`: nothing to serve.",
  );
  Deno.exit(70);
});

// ---- shutdown: the host stops an idle process as Deploy does, SIGINT then SIGKILL 5 s later ----

// The sandbox does not pass signals on, so the host says "stop" on the lifeline instead, and the
// deployment's SIGINT listeners run here (or, with none, the process exits as SIGINT would end it).
const realAddSignalListener = Deno.addSignalListener;
const realRemoveSignalListener = Deno.removeSignalListener;
const interruptListeners = new Set();
Object.defineProperty(Deno, "addSignalListener", {
  configurable: true,
  writable: true,
  value: function addSignalListener(signal, handler) {
    realAddSignalListener(signal, handler);
    if (signal === "SIGINT") interruptListeners.add(handler);
  },
});
Object.defineProperty(Deno, "removeSignalListener", {
  configurable: true,
  writable: true,
  value: function removeSignalListener(signal, handler) {
    realRemoveSignalListener(signal, handler);
    if (signal === "SIGINT") interruptListeners.delete(handler);
  },
});

function shutDown() {
  if (interruptListeners.size === 0) exitNow(130);
  for (const listener of [...interruptListeners]) {
    try {
      listener();
    } catch (error) {
      writeLog("error", `Uncaught ${inspect(error)}`);
    }
  }
}

// ---- Deno.cron: registered with the host, which runs each job on its schedule ----

// The host keeps the schedules (host/tenant/cron.ts) and, when one is due while the deployment
// is current, starts the process if need be and names the job on the lifeline.
const cronJobs = new Map();
// Deno's (ext/cron): a failed run is tried again after each of these delays in turn, at most 5
// delays of at most an hour each.
const CRON_BACKOFF_MS = [100, 1_000, 5_000, 30_000, 60_000];
Object.defineProperty(Deno, "cron", {
  configurable: true,
  writable: true,
  value: function cron(name, schedule, optionsOrHandler, maybeHandler) {
    const handler = typeof optionsOrHandler === "function" ? optionsOrHandler : maybeHandler;
    const options = typeof optionsOrHandler === "function" ? undefined : optionsOrHandler;
    if (typeof name !== "string" || name.length === 0 || name.length > 64) {
      throw new TypeError("Deno.cron: the name must be a string of 1 to 64 characters");
    }
    // Deno's own checks and words, so what fails on Deploy fails here.
    if (!/^[a-zA-Z0-9_\- ]+$/.test(name)) {
      throw new TypeError(
        "Invalid cron name: only alphanumeric characters, whitespace, hyphens, and underscores are allowed",
      );
    }
    const backoff = options?.backoffSchedule ?? CRON_BACKOFF_MS;
    if (
      !Array.isArray(backoff) || backoff.length > 5 ||
      backoff.some((ms) => !Number.isInteger(ms) || ms < 0 || ms > 3_600_000)
    ) {
      throw new TypeError("Invalid backoff schedule");
    }
    if (typeof handler !== "function") {
      throw new TypeError("Deno.cron: the handler must be a function");
    }
    if (cronJobs.has(name)) throw new TypeError(`Deno.cron: a job named "${name}" already exists`);
    cronJobs.set(name, { handler, backoff: [...backoff] });
    writeTagged({ cron: { name, schedule } });
    return new Promise(() => {}); // settles when the job is closed: never, here
  },
});

async function runCron(name) {
  const job = cronJobs.get(name);
  if (!job) return;
  for (let attempt = 0;; attempt++) {
    const started = performance.now();
    writeTagged({ level: "info", message: `cron job "${name}" started` });
    try {
      await job.handler();
      const ms = Math.round(performance.now() - started);
      writeTagged({ level: "info", message: `cron job "${name}" finished in ${ms} ms` });
      return;
    } catch (error) {
      writeLog("error", `cron job "${name}" failed: ${error?.stack ?? String(error)}`);
    }
    // As Deploy does: tried again after the next delay of its backoff schedule, if any is left.
    const delay = job.backoff[attempt];
    if (delay === undefined) return;
    await new Promise((resolve) => setTimer(resolve, delay));
  }
}

// ---- pool: a runtime started before its deployment is known (host/tenant/warm_pool.ts) ----

// The entry point a pooled runtime was handed (its main module is the pool's, see pool.js).
let handedEntry;
// A pooled runtime listens on its socket from the start, so that the host can warm the server
// (and its own connection to it) up with a request, its secret's, before any deployment is
// handed over. Any other request is a caller's, which the host sends as soon as it has handed
// the deployment over: it waits here until the deployment serves (it may even come before the
// handoff is read).
let pooledServer = null;
const deploymentServes = Promise.withResolvers();
// Settled once the loader is warm (below): the host's warm-up is answered then, so that the host
// knows the runtime's Deno cache is set up (host/tenant/module_seed.ts plants in it).
const loaderWarm = Promise.withResolvers();
let dispatch = (request, info) => {
  if (isWarmUp(request)) return loaderWarm.promise.then(() => new Response("warm"));
  return deploymentServes.promise.then(() => dispatch(request, info));
};
let dispatchError = logHandlerError;
if (pooled) {
  pooledServer = realServe(
    {
      path: socketPath,
      onListen() {},
      onError: (error) => dispatchError(error),
      automaticCompression: DEPLOY_COMPRESSES,
    },
    (request, info) => dispatch(request, info),
  );
  sealSocket();
  // Deno loads the main module (pool.js) once the event loop has run dry after the preload, so
  // never while this listens: everything a pooled runtime does runs here.
  //
  // Warm the loader, its caches and the TypeScript transpiler before any handoff, not on the
  // deployment's time: a file of the host's (host/tenant/warm_pool.ts), as Deno sets its caches
  // up on the first file it imports (a data: URL leaves them cold). The host's warm-up is
  // answered once this is done.
  const runDir = socketPath.slice(0, socketPath.lastIndexOf("/"));
  import(`file://${runDir}/warm.ts`).catch(() => {}).finally(loaderWarm.resolve);
  // The deployment's module loaded, and served if it exports `fetch` (at once: a main module's
  // load event would come a few milliseconds later). A failure is an unhandled rejection,
  // logged by the handler above, and the process exits.
  globalThis[Symbol.for("deploy-tenant.handoff")] = handoff.then(async (deployment) => {
    for (const [name, value] of Object.entries(deployment.env)) Deno.env.set(name, value);
    requestTimeoutMs = Number(deployment.requestTimeoutMs) || 0;
    handedEntry = deployment.entry;
    let entry;
    try {
      entry = (await import(handedEntry)).default;
    } catch (error) {
      writeLog("error", loadFailure(error));
      Deno.exit(1);
    }
    if (!server && entry && typeof entry.fetch === "function") {
      listen((request, info) => entry.fetch(request, info));
    }
  });
}

/**
 * A handed entry point that failed to load, said as Deno says it of a main module (a fresh
 * process's): a module Deno could not load or parse is `error: <why>` (a dynamic import wraps it
 * in a TypeError coded ERR_MODULE_NOT_FOUND, even for a syntax error), an error its code threw is
 * `Uncaught (in promise) <error>`; either way without the bootstrap's own frames.
 */
function loadFailure(error) {
  const ours = (line) => line.includes("file:///deno/bootstrap.js");
  if (error instanceof TypeError && error.code === "ERR_MODULE_NOT_FOUND") {
    const lines = String(error.stack ?? error.message).split("\n").filter((line) => !ours(line));
    return "error: " + lines.join("\n").replace(/^TypeError: /, "");
  }
  const text = typeof error === "string" ? error : inspect(error);
  return "Uncaught (in promise) " + text.split("\n").filter((line) => !ours(line)).join("\n");
}

// ---- last: Deno's internals out of the deployment's reach ----

// `Deno[Deno.internal]` holds Deno's core, every op beneath the wrappers above (KV counting, the
// captured Deno.serve, the tagged console). The bootstrap took what it needs; the deployment's
// code, which runs after this, gets none of it.
delete Deno[Deno.internal];
