// The main module of a pooled tenant runtime (host/tenant/warm_pool.ts): started, sandboxed, before
// its deployment is known, it waits while the bootstrap is handed one and runs its entry
// point; an error there is this module's, so it is reported as an uncaught error at import.
// Plain JS so it needs no transpiling. The bootstrap's server, listening since boot, keeps the
// process up while it waits: no timer does (tests/tenant_timers_test.ts watches it idle).

const key = Symbol.for("deploy-tenant.handoff");
const handoff = globalThis[key];
delete globalThis[key];
const warmKey = Symbol.for("deploy-tenant.warm-module");
const warmModule = globalThis[warmKey];
delete globalThis[warmKey];
// Warm the loader, its caches and the TypeScript transpiler now, not on the deployment's time:
// a file of the host's (a data: URL leaves the caches cold, ~1.5 ms of the handoff here).
await import(warmModule).catch(() => {});
await handoff;
