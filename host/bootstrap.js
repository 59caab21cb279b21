// Preloaded (`deno run --preload`) into every tenant process, before the tenant's entry module.
//
// It makes both styles of Deploy module serve on the unix socket the host routes to:
// `Deno.serve(handler)` is captured and re-bound to the socket, and a module that only has
// `export default { fetch }` is served once it has finished loading. Plain JS so it needs no
// transpiling on a cold start.

const socketPath = Deno.env.get("DENO_DEPLOYMENT_SOCKET");
Deno.env.delete("DENO_DEPLOYMENT_SOCKET");
if (!socketPath) throw new Error("bootstrap: DENO_DEPLOYMENT_SOCKET is not set");

const realServe = Deno.serve;
let server = null;

function listen(handler, options = {}) {
  if (server) {
    throw new Error("Deno.serve() was called twice: a deployment serves one handler");
  }
  if (typeof handler !== "function") {
    throw new TypeError("Deno.serve() needs a handler function");
  }
  server = realServe({ path: socketPath, onListen() {}, onError: options.onError }, handler);
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

globalThis.addEventListener("load", async () => {
  if (server) return;
  const mod = await import(Deno.mainModule);
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
