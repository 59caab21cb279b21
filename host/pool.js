// The main module of a pooled tenant runtime (host/warm_pool.ts): started, sandboxed, before
// its deployment is known, it waits for the host to hand it one (the bootstrap reads the
// handoff), then runs the deployment's entry point. Plain JS so it needs no transpiling.

const key = Symbol.for("deploy-tenant.handoff");
const handoff = globalThis[key];
delete globalThis[key];
// The lifeline's read does not hold the process up while it waits.
const keepAlive = setInterval(() => {}, 3_600_000);
// Warm the loader and TypeScript transpiler now, not on the deployment's time.
await import("data:application/typescript,export const warm: number = 1;");
const entry = await handoff;
clearInterval(keepAlive);
await import(entry);
