// The main module of a pooled tenant runtime (host/tenant/warm_pool.ts). Deno needs one, but
// loads it only once the event loop has run dry after the preload, and the bootstrap's server
// listens from the preload on: everything a pooled runtime does (warming its loader up, taking
// its deployment, serving it) runs in the bootstrap. Should Deno ever get here, this waits for
// the same handoff. Plain JS so it needs no transpiling.

const key = Symbol.for("deploy-tenant.handoff");
const handoff = globalThis[key];
delete globalThis[key];
await handoff;
