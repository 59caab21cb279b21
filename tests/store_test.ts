import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import {
  type BuildLogEntry,
  type NewDeployment,
  ProjectNameTakenError,
  Store,
  timestamp,
  UnknownBlobError,
} from "../host/store/store.ts";
import { MIGRATIONS } from "../host/store/schema.ts";
import { newToken } from "../host/store/ids.ts";
import { bareDeployment } from "./helpers/store.ts";

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "store_test_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

function openStore(dir: string): Store & Disposable {
  const store = Store.open(join(dir, "data", "host.sqlite"));
  return Object.assign(store, { [Symbol.dispose]: () => store.close() });
}

const SHA_A = "78981922613b2afb6025042ff6bd878ac1994e85";
const SHA_B = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

/** A deployment with a variable and one file (blob A), unless `overrides` say otherwise. */
function newDeployment(projectId: string, overrides: Partial<NewDeployment> = {}): NewDeployment {
  return bareDeployment(projectId, {
    envVars: { GREETING: "hi" },
    assets: [{ path: "main.ts", kind: "file", gitSha1: SHA_A }],
    ...overrides,
  });
}

/** A store with one organization, one project and blob A uploaded by the organization. */
function seed(store: Store) {
  const org = store.ensureOrganization("acme");
  const project = store.createProject(org.id, { name: "lead-hook", description: "" });
  store.recordOrgBlob(org.id, SHA_A);
  return { org, project };
}

Deno.test("migrations run once and reopening keeps the schema and data", async () => {
  await using dir = await tempDir();
  let projectId: string;
  {
    using store = openStore(dir.path);
    assert.equal(store.schemaVersion, MIGRATIONS.length);
    projectId = seed(store).project.id;
  }
  {
    // A second run of the CREATE TABLEs would throw "table already exists".
    using store = openStore(dir.path);
    assert.equal(store.schemaVersion, MIGRATIONS.length);
    assert.equal(store.getProject(projectId)?.name, "lead-hook");
    assert.equal(store.ensureOrganization("other").name, "acme");
  }
});

Deno.test("opening a database from a newer version fails instead of guessing", async () => {
  await using dir = await tempDir();
  openStore(dir.path).close();
  const db = new DatabaseSync(join(dir.path, "data", "host.sqlite"));
  db.exec(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
  db.close();
  assert.throws(() => openStore(dir.path), /newer than this program knows/);
});

Deno.test("the database is in WAL mode with foreign keys enforced", async () => {
  await using dir = await tempDir();
  using store = openStore(dir.path);
  const { project } = seed(store);
  const db = new DatabaseSync(join(dir.path, "data", "host.sqlite"));
  try {
    assert.deepEqual({ ...db.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
  } finally {
    db.close();
  }
  // Deleting a project cascades to its deployments' rows only when foreign keys are on.
  const { id } = store.createDeployment(newDeployment(project.id))!;
  store.appendBuildLog(id, "info", "building");
  store.deleteProject(project.id);
  assert.equal(store.getDeploymentRecord(id), undefined);
  assert.deepEqual(store.listDeploymentAssets(id), []);
  assert.deepEqual(store.buildLogs(id), []);
  assert.equal(store.createDeployment(newDeployment(project.id)), undefined);
});

Deno.test("tokens resolve to their organization and only their hash is stored", async () => {
  await using dir = await tempDir();
  const token = newToken();
  let orgId: string;
  {
    using store = openStore(dir.path);
    orgId = store.ensureOrganization("acme").id;
    const other = store.createOrganization("globex");
    const otherToken = newToken();
    store.setToken(orgId, token);
    store.setToken(other.id, otherToken);
    assert.equal(store.organizationForToken(token), orgId);
    assert.equal(store.organizationForToken(otherToken), other.id);
    assert.equal(store.organizationForToken(`${token}x`), undefined);
    assert.equal(store.organizationForToken(""), undefined);
  }
  for await (const entry of Deno.readDir(join(dir.path, "data"))) {
    const text = new TextDecoder().decode(await Deno.readFile(join(dir.path, "data", entry.name)));
    assert.equal(text.includes(token), false, `${entry.name} contains the token`);
  }
  using store = openStore(dir.path);
  assert.equal(store.organizationForToken(token), orgId);
});

Deno.test("transaction commits on return, rolls back on throw, nests as savepoints", async () => {
  await using dir = await tempDir();
  using store = openStore(dir.path);
  const org = store.ensureOrganization("acme");
  const create = (name: string) => store.createProject(org.id, { name, description: "" });

  store.transaction(() => create("kept-one"));
  assert.throws(() =>
    store.transaction(() => {
      create("rolled-back");
      throw new Error("boom");
    }), /boom/);
  store.transaction(() => {
    create("outer-kept");
    assert.throws(() =>
      store.transaction(() => {
        create("inner-gone");
        throw new Error("inner");
      }), /inner/);
  });
  assert.throws(
    () => store.transaction((() => Promise.resolve()) as () => unknown),
    /synchronous/,
  );

  assert.equal(store.isProjectNameTaken("kept-one"), true);
  assert.equal(store.isProjectNameTaken("rolled-back"), false);
  assert.equal(store.isProjectNameTaken("outer-kept"), true);
  assert.equal(store.isProjectNameTaken("inner-gone"), false);
});

Deno.test("project names are unique across organizations", async () => {
  await using dir = await tempDir();
  using store = openStore(dir.path);
  const { project } = seed(store);
  const other = store.createOrganization("globex");
  assert.throws(
    () => store.createProject(other.id, { name: "lead-hook", description: "" }),
    ProjectNameTakenError,
  );
  const second = store.createProject(other.id, { name: "form-hook", description: "" });
  assert.throws(
    () => store.updateProject(second.id, { name: project.name }),
    ProjectNameTakenError,
  );
  assert.equal(store.getProject(second.id)?.name, "form-hook");
});

Deno.test("list queries page, filter and sort", async () => {
  await using dir = await tempDir();
  using store = openStore(dir.path);
  const org = store.ensureOrganization("acme");
  for (const name of ["cherry", "apple", "banana", "apricot"]) {
    store.createProject(org.id, { name, description: "" });
  }
  const names = (q: Partial<Parameters<Store["listProjects"]>[1]>) =>
    store.listProjects(org.id, { page: 1, limit: 20, sort: "updated_at", order: "asc", ...q })
      .items.map((p) => p.name);
  assert.deepEqual(names({}), ["cherry", "apple", "banana", "apricot"]);
  assert.deepEqual(names({ sort: "name" }), ["apple", "apricot", "banana", "cherry"]);
  assert.deepEqual(names({ sort: "name", order: "desc", limit: 2, page: 2 }), ["apricot", "apple"]);
  assert.deepEqual(names({ q: "AP" }), ["apple", "apricot"]);
  assert.deepEqual(names({ q: "%" }), []);
  assert.equal(
    store.listProjects(org.id, { page: 9, limit: 3, sort: "name", order: "asc" }).total,
    4,
  );
  assert.throws(() => names({ sort: "id; DROP TABLE projects" }), RangeError);
});

Deno.test("timestamps are RFC 3339 with microseconds and strictly increasing", () => {
  const stamps = Array.from({ length: 50 }, timestamp);
  for (const stamp of stamps) assert.match(stamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.deepEqual([...stamps].sort(), stamps);
  assert.equal(new Set(stamps).size, stamps.length);
});

Deno.test("createDeployment refuses a blob the organization has not uploaded", async () => {
  await using dir = await tempDir();
  using store = openStore(dir.path);
  const { project } = seed(store);
  const deployment = newDeployment(project.id, {
    assets: [
      { path: "main.ts", kind: "file", gitSha1: SHA_A },
      { path: "other.ts", kind: "file", gitSha1: SHA_B },
    ],
  });
  assert.throws(() => store.createDeployment(deployment), UnknownBlobError);
  assert.equal(store.getDeploymentRecord(deployment.id), undefined);
  assert.deepEqual(store.listDeploymentAssets(deployment.id), []);
});

Deno.test("a deployment record round-trips with its assets and JSON fields", async () => {
  await using dir = await tempDir();
  using store = openStore(dir.path);
  const { org, project } = seed(store);
  const input = newDeployment(project.id, {
    description: "first",
    envVars: { A: "1", B: "two" },
    databases: { default: "5b484959-cba2-482d-95ab-ba592784af80" },
    compilerOptions: { jsx: "react-jsx" },
    requestTimeout: 5000,
    permissions: { net: ["example.com"] },
    requestedDomains: ["{project.name}-{deployment.id}.localhost"],
    assets: [
      { path: "main.ts", kind: "file", gitSha1: SHA_A },
      { path: "link.ts", kind: "symlink", target: "main.ts" },
    ],
  });
  const record = store.createDeployment(input)!;
  assert.deepEqual(record, {
    id: input.id,
    projectId: project.id,
    projectName: "lead-hook",
    organizationId: org.id,
    status: "pending",
    description: "first",
    entryPointUrl: "main.ts",
    envVars: { A: "1", B: "two" },
    databases: { default: "5b484959-cba2-482d-95ab-ba592784af80" },
    domains: null,
    requestedDomains: ["{project.name}-{deployment.id}.localhost"],
    importMapUrl: null,
    lockFileUrl: null,
    compilerOptions: { jsx: "react-jsx" },
    requestTimeout: 5000,
    permissions: { net: ["example.com"] },
    organizationSlug: org.slug,
    revision: { labels: {}, config: null, layerIds: null, preview: false },
    enableCron: false,
    runtimeArgs: [],
    failureReason: null,
    failureDetail: null,
    cancellationRequestedAt: null,
    buildStartedAt: null,
    buildFinishedAt: null,
    createdAt: record.createdAt,
    updatedAt: record.createdAt,
  });
  assert.deepEqual(store.listDeploymentAssets(input.id), [
    { path: "link.ts", kind: "symlink", target: "main.ts" },
    { path: "main.ts", kind: "file", gitSha1: SHA_A },
  ]);
  assert.deepEqual(store.pendingDeployments(), [input.id]);
  store.setDeploymentStatus(input.id, "failed");
  assert.deepEqual(store.pendingDeployments(), []);
  assert.equal(store.getDeploymentRecord(input.id)?.status, "failed");
});

Deno.test("build logs are stored in order and streamed to subscribers until the build ends", async () => {
  await using dir = await tempDir();
  using store = openStore(dir.path);
  const { project } = seed(store);
  const { id } = store.createDeployment(newDeployment(project.id))!;
  store.appendBuildLog(id, "info", "one");
  const seen: (BuildLogEntry | null)[] = [];
  const unsubscribe = store.subscribeBuildLogs(id, (entry) => seen.push(entry));
  store.appendBuildLog(id, "info", "two");
  store.appendBuildLog(id, "error", "three");
  store.setDeploymentStatus(id, "failed");
  store.appendBuildLog(id, "info", "after the end");
  unsubscribe();
  assert.deepEqual(seen, [
    { level: "info", message: "two" },
    { level: "error", message: "three" },
    null,
  ]);
  assert.deepEqual(store.buildLogs(id).map((e) => e.message), [
    "one",
    "two",
    "three",
    "after the end",
  ]);

  // Subscribing to a finished build ends at once.
  const late = await new Promise((resolve) => store.subscribeBuildLogs(id, resolve));
  assert.equal(late, null);
  // Lines for a deleted deployment are dropped, not an error.
  store.deleteDeployment(id);
  store.appendBuildLog(id, "info", "gone");
  assert.deepEqual(store.buildLogs(id), []);
});

Deno.test("success binds domains; a name moves within an organization, never across", async () => {
  await using dir = await tempDir();
  using store = openStore(dir.path);
  const { org, project } = seed(store);
  const first = store.createDeployment(newDeployment(project.id))!;
  store.setDeploymentStatus(first.id, "success", ["Lead-Hook.localhost", "shared.example.com"]);
  assert.deepEqual(store.getDeploymentRecord(first.id)?.domains, [
    "lead-hook.localhost",
    "shared.example.com",
  ]);
  assert.equal(store.findDeploymentByDomain("LEAD-HOOK.localhost."), first.id);

  const second = store.createDeployment(newDeployment(project.id))!;
  store.setDeploymentStatus(second.id, "success", ["lead-hook.localhost"]);
  assert.equal(store.findDeploymentByDomain("lead-hook.localhost"), second.id);
  assert.deepEqual(store.getDeploymentRecord(first.id)?.domains, ["shared.example.com"]);

  const rival = store.createOrganization("globex");
  store.recordOrgBlob(rival.id, SHA_A);
  const rivalProject = store.createProject(rival.id, { name: "rival", description: "" });
  const stolen = store.createDeployment(newDeployment(rivalProject.id))!;
  store.setDeploymentStatus(stolen.id, "success", ["shared.example.com"]);
  assert.equal(store.findDeploymentByDomain("shared.example.com"), first.id);
  assert.equal(store.domainOrganization("shared.example.com"), org.id);
  assert.deepEqual(store.getDeploymentRecord(stolen.id)?.domains, []);
  assert.match(store.buildLogs(stolen.id)[0].message, /another organization/);

  // Renaming the project moves its names under the base domain, not custom ones.
  store.updateProject(project.id, { name: "crm-hook" }, "localhost");
  assert.equal(store.findDeploymentByDomain("crm-hook.localhost"), second.id);
  assert.equal(store.findDeploymentByDomain("lead-hook.localhost"), undefined);
  assert.equal(store.findDeploymentByDomain("shared.example.com"), first.id);

  store.deleteDeployment(second.id);
  assert.equal(store.findDeploymentByDomain("crm-hook.localhost"), undefined);
});

Deno.test("deleteDeployment frees the blobs only it used", async () => {
  await using dir = await tempDir();
  using store = openStore(dir.path);
  const { org, project } = seed(store);
  store.recordOrgBlob(org.id, SHA_B);
  const first = store.createDeployment(newDeployment(project.id, {
    assets: [
      { path: "main.ts", kind: "file", gitSha1: SHA_A },
      { path: "copy.ts", kind: "file", gitSha1: SHA_B },
      { path: "again.ts", kind: "file", gitSha1: SHA_B },
    ],
  }))!;
  const second = store.createDeployment(newDeployment(project.id))!;
  assert.deepEqual(store.blobsOnlyUsedBy(first.id), [SHA_B]);
  assert.deepEqual(store.blobsOnlyUsedBy(second.id), []);
  assert.deepEqual(store.deleteDeployment(first.id), [SHA_B]);
  assert.equal(store.orgHasBlob(org.id, SHA_B), false);
  assert.equal(store.orgHasBlob(org.id, SHA_A), true);
  assert.deepEqual(store.blobsOnlyUsedBy(second.id), [SHA_A]);
  assert.equal(store.getDeploymentRecord(first.id), undefined);
});

Deno.test("a deployment's blobs no other deployment of its project uses are found", async () => {
  await using dir = await tempDir();
  using store = openStore(dir.path);
  const { org, project } = seed(store);
  const other = store.createProject(org.id, { name: "other-hook", description: "" });
  store.recordOrgBlob(org.id, SHA_B);
  const assets = [
    { path: "main.ts", kind: "file" as const, gitSha1: SHA_A },
    { path: "config.ts", kind: "file" as const, gitSha1: SHA_B },
  ];
  const first = store.createDeployment(newDeployment(project.id, { assets }))!;
  const second = store.createDeployment(newDeployment(project.id))!; // main.ts: SHA_A
  store.createDeployment(newDeployment(other.id, { assets })); // another project's use
  assert.deepEqual(store.blobsOnlyInProjectUsedBy(first.id), [SHA_B]);
  assert.deepEqual(store.blobsOnlyUsedBy(first.id), []);
  assert.deepEqual(store.blobsOnlyInProjectUsedBy(second.id), []);
});

Deno.test("host.db and its write-ahead files are the host user's alone (0600), even made 0644 before", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "host.db");
    // A data dir an earlier version made with the default umask.
    new DatabaseSync(path).close();
    Deno.chmodSync(path, 0o644);
    const store = Store.open(path);
    try {
      store.createOrganization("perm-org"); // writes: the WAL and its index exist now
      for (const file of ["host.db", "host.db-wal", "host.db-shm"]) {
        const mode = Deno.statSync(join(dir, file)).mode! & 0o777;
        assert.equal(mode, 0o600, `${file} is ${mode.toString(8)}`);
      }
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
