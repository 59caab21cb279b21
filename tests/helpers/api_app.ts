/**
 * The API app alone: {@link createApi} over a fresh store in a temporary directory, served on a
 * free loopback port, with organization `acme` and its token. No runtime and no builds: what
 * creating or deleting a deployment starts is the `engine`'s. For the API's contract;
 * tests/helpers/api_host.ts starts a whole host.
 *
 * @module
 */
import { join } from "node:path";
import { type ApiEngine, type ApiOptions, createApi } from "../../host/api/mod.ts";
import { BlobStore } from "../../host/store/blobs.ts";
import { newToken } from "../../host/store/ids.ts";
import { Store } from "../../host/store/store.ts";

/** A served API app; disposing it stops the server and removes its directory. */
export interface ApiApp extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`: the v1 API is under `/v1`, v2 under `/v2`. */
  url: string;
  store: Store;
  blobs: BlobStore;
  /** Organization `acme`'s id. */
  orgId: string;
  /** Organization `acme`'s token. */
  token: string;
}

/** An engine that records the calls the API makes; `failDelete` makes deleting fail. */
export class RecordingEngine implements ApiEngine {
  baseDomain = "localhost";
  created: string[] = [];
  deleted: string[] = [];
  failDelete = false;

  deploymentCreated(id: string): void {
    this.created.push(id);
  }

  deploymentDeleted(id: string): Promise<void> {
    if (this.failDelete) return Promise.reject(new Error("engine exploded"));
    this.deleted.push(id);
    return Promise.resolve();
  }
}

/** Serves `createApi(store, blobs, engine, options)` as described in the module doc. */
export async function serveApi(engine: ApiEngine, options: ApiOptions = {}): Promise<ApiApp> {
  const dir = await Deno.makeTempDir({ prefix: "deploy-tenant-api-app-" });
  const store = Store.open(join(dir, "host.db"));
  const blobs = new BlobStore(join(dir, "blobs"));
  const org = store.ensureOrganization("acme");
  const token = newToken();
  store.setToken(org.id, token);
  const app = createApi(store, blobs, engine, options);
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    store,
    blobs,
    orgId: org.id,
    token,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
