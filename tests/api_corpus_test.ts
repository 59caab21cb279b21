/**
 * A corpus of malformed API requests, generated from tables, sent to a real host: every one
 * must be answered with the expected 4xx and a `{code, message}` body — never a 5xx — and
 * the host must still serve afterwards.
 *
 * Paths and string bodies name the fixtures with placeholders (`{project}`, `{otherDomain}`,
 * …) so the corpus, and its size in the test's name, is fixed before the host starts.
 */
import assert from "node:assert/strict";
import { SMALL_BODY_BYTES } from "../host/api/mod.ts";
import { MAX_JSON_VALUES } from "../host/api/strict_json.ts";
import { MAX_ASSETS } from "../host/api/validate.ts";
import { invoke } from "../lib/invoke.ts";
import {
  type ApiHost,
  createResources,
  helloDeployment,
  ok,
  type Resources,
  startApiHost,
  waitForBuild,
} from "./helpers/api_host.ts";

/** The create-deployment body limit of the corpus host (other bodies have SMALL_BODY_BYTES). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

interface Case {
  name: string;
  method: string;
  /** Under the host's origin, with placeholders. */
  path: string;
  /** A string (placeholders filled in), raw bytes, or bytes made when sent. */
  body?: string | Uint8Array<ArrayBuffer> | (() => Uint8Array<ArrayBuffer>);
  /** Send the body as a stream, without `Content-Length`. */
  streamed?: boolean;
  /** Default `application/json` when there is a body; `null` for none. */
  contentType?: string | null;
  status: number;
  /** The expected `code`; any non-empty one when absent. */
  code?: string;
}

// ---- the endpoints that take a body, each with a body it would accept ----

const DEPLOYMENT = helloDeployment();
const CERTIFICATE = {
  privateKey: "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
  certificateChain: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
};

interface BodyEndpoint {
  name: string;
  method: string;
  path: string;
  valid: Record<string, unknown>;
  limit: number;
  /** Wrong values per field, all refused by the schema (`invalidRequest`). */
  wrongTypes: Record<string, unknown[]>;
}

const BODY_ENDPOINTS: BodyEndpoint[] = [
  {
    name: "create project",
    method: "POST",
    path: "/v1/organizations/{org}/projects",
    valid: { name: "corpus-new", description: "x" },
    limit: SMALL_BODY_BYTES,
    wrongTypes: { name: [5, true, [], {}], description: [5, false, [], {}, "x".repeat(1001)] },
  },
  {
    name: "update project",
    method: "PATCH",
    path: "/v1/projects/{project}",
    valid: { description: "x" },
    limit: SMALL_BODY_BYTES,
    wrongTypes: { name: [5, [], {}], description: [5, [], { a: 1 }, "x".repeat(1001)] },
  },
  {
    name: "create deployment",
    method: "POST",
    path: "/v1/projects/{project}/deployments",
    valid: DEPLOYMENT,
    limit: MAX_BODY_BYTES,
    wrongTypes: {
      entryPointUrl: [5, null, [], {}, ""],
      assets: ["main.ts", [], 5, null, { "main.ts": "x" }, { "main.ts": { kind: 5 } }],
      envVars: ["A=1", [], null, { A: 5 }, { A: null }],
      importMapUrl: [5, {}, []],
      lockFileUrl: [5, true],
      compilerOptions: ["jsx", [], { jsx: 5 }, { experimentalDecorators: "yes" }],
      databases: ["x", [], { default: 5 }],
      domains: ["a.test", {}, [5], ["a.test", null]],
      requestTimeout: ["5", 1.5, -1, 0, 2 ** 31, true],
      permissions: ["x", [], { net: "x" }, { net: [5] }, { net: ["a.com,b.com"] }, { net: [""] }],
      description: [5, [], "x".repeat(1001)],
    },
  },
  {
    name: "redeploy",
    method: "POST",
    path: "/v1/deployments/{deployment}/redeploy",
    valid: { description: "again" },
    limit: SMALL_BODY_BYTES,
    wrongTypes: {
      envVars: ["A=1", [], { A: 5 }],
      env_vars: [5, { A: true }],
      databases: ["x", { default: 5 }],
      requestTimeout: ["5", 0, 1.5],
      permissions: ["x", { net: [5] }],
      description: [5, {}],
    },
  },
  {
    name: "create database",
    method: "POST",
    path: "/v1/organizations/{org}/databases",
    valid: { description: "kv" },
    limit: SMALL_BODY_BYTES,
    wrongTypes: { description: [5, [], {}, true] },
  },
  {
    name: "update database",
    method: "PATCH",
    path: "/v1/databases/{database}",
    valid: { description: "kv" },
    limit: SMALL_BODY_BYTES,
    wrongTypes: { description: [5, [], {}] },
  },
  {
    name: "create domain",
    method: "POST",
    path: "/v1/organizations/{org}/domains",
    valid: { domain: "new.corpus.test" },
    limit: SMALL_BODY_BYTES,
    wrongTypes: { domain: [5, null, "", [], {}, "x".repeat(301)] },
  },
  {
    name: "update domain",
    method: "PATCH",
    path: "/v1/domains/{domain}",
    valid: { deploymentId: null },
    limit: SMALL_BODY_BYTES,
    wrongTypes: { deploymentId: [5, [], {}, true] },
  },
  {
    name: "upload certificate",
    method: "POST",
    path: "/v1/domains/{domain}/certificates",
    valid: CERTIFICATE,
    limit: SMALL_BODY_BYTES,
    wrongTypes: { privateKey: [5, "", null, []], certificateChain: [5, "", {}] },
  },
];

// ---- the tables ----

/** JSON text that is not a usable body, with the code it gets. */
const BAD_JSON: [string, string, string][] = [
  ["empty", "", "invalidJson"],
  ["whitespace only", " \n\t", "invalidJson"],
  ["a lone brace", "{", "invalidJson"],
  ["truncated", '{"description": "ab', "invalidJson"],
  ["truncated after a comma", '{"description": "ab",', "invalidJson"],
  ["trailing garbage", '{"description": "ab"} trailing', "invalidJson"],
  ["two documents", '{"description": "ab"}{}', "invalidJson"],
  ["single quotes", "{'description': 'ab'}", "invalidJson"],
  ["a trailing comma", '{"description": "ab",}', "invalidJson"],
  ["a NUL byte", '{"description": "ab"}\0', "invalidJson"],
  ["a raw newline in a string", '{"description": "a\nb"}', "invalidJson"],
  ["a bad escape", '{"description": "\\x41"}', "invalidJson"],
  ["NaN", '{"description": NaN}', "invalidJson"],
  ["an array", "[]", "invalidRequest"],
  ["a string", '"body"', "invalidRequest"],
  ["a number", "42", "invalidRequest"],
  ["null", "null", "invalidRequest"],
  ["true", "true", "invalidRequest"],
];

/** Bodies that are not UTF-8. */
const BAD_UTF8: [string, number[]][] = [
  ["a 0xFF byte", [0xff]],
  ["an overlong slash", [0xc0, 0xaf]],
  ["a truncated sequence", [0xe2, 0x82]],
  ["an encoded surrogate", [0xed, 0xa0, 0x80]],
];

const CONTENT_TYPES = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/xml",
  "text/json",
];

function withAsset(path: string, asset: unknown, extra: Record<string, unknown> = {}) {
  return { ...DEPLOYMENT, ...extra, assets: { ...DEPLOYMENT.assets as object, [path]: asset } };
}

const FILE = { kind: "file", content: "x" };

const BAD_ASSET_NAMES = [
  "/etc/passwd",
  "..",
  "../x.ts",
  "a/../../x.ts",
  "a/..",
  ".",
  "./a.ts",
  "a\0b.ts",
  "a\\b.ts",
  "..\\..\\x.ts",
  "C:\\x.ts",
  "",
  "a//b.ts",
  "a/",
  "a\ud800.ts",
  `${"x".repeat(256)}.ts`,
  `${"abcdefgh/".repeat(460)}x.ts`,
];

const BAD_SYMLINK_TARGETS = ["/etc/passwd", "../../etc/passwd", "", "main\0.ts", "a\\b", "nope"];

const BAD_BASE64 = ["@@@", "QQ=", "QQ==\n", "Q", "QQ==QQ==", "=QQ=", "QQ== ", "QUJD\tRA=="];

const BAD_ENTRY_POINTS = [
  "/etc/passwd",
  "../main.ts",
  "file:///etc/passwd",
  "https://example.com/main.ts",
  "data:text/javascript,export default {}",
  "main.ts\0",
  "missing.ts",
  "main\ud800.ts",
];

const BAD_PROJECT_NAMES = [
  "",
  "ab",
  "a".repeat(27),
  "Upper",
  "has_underscore",
  "with space",
  "-lead",
  "trail-",
  "émoji-name",
  "abc-12345678",
  "abc-123456789012",
  "a.b.c",
  "nul\0name",
];

/** A UUID and a deployment id that no resource has. */
const UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000";
const UNKNOWN_DEPLOYMENT = "zzzzzzzzzzzz";
const MALFORMED_IDS = [
  "nope",
  "%00",
  "%FF",
  "%E2%80%AE",
  "x".repeat(5000),
  "'%20OR%201=1--",
  "..%2F..%2Fetc%2Fpasswd",
];

/** Each route that names a resource, by the kind of id it takes and the code of a miss. */
const ID_ROUTES: { method: string; path: string; kind: IdKind; body?: unknown }[] = [
  { method: "GET", path: "/v1/organizations/{id}", kind: "org" },
  { method: "GET", path: "/v1/organizations/{id}/projects", kind: "org" },
  { method: "POST", path: "/v1/organizations/{id}/projects", kind: "org", body: { name: null } },
  { method: "GET", path: "/v1/organizations/{id}/databases", kind: "org" },
  { method: "POST", path: "/v1/organizations/{id}/databases", kind: "org", body: {} },
  { method: "GET", path: "/v1/organizations/{id}/domains", kind: "org" },
  {
    method: "POST",
    path: "/v1/organizations/{id}/domains",
    kind: "org",
    body: { domain: "x.corpus.test" },
  },
  { method: "GET", path: "/v1/organizations/{id}/analytics", kind: "org" },
  { method: "GET", path: "/v1/projects/{id}", kind: "project" },
  { method: "PATCH", path: "/v1/projects/{id}", kind: "project", body: { description: "x" } },
  { method: "DELETE", path: "/v1/projects/{id}", kind: "project" },
  { method: "GET", path: "/v1/projects/{id}/deployments", kind: "project" },
  { method: "POST", path: "/v1/projects/{id}/deployments", kind: "project", body: DEPLOYMENT },
  { method: "GET", path: "/v1/projects/{id}/analytics", kind: "project" },
  { method: "GET", path: "/v1/deployments/{id}", kind: "deployment" },
  { method: "DELETE", path: "/v1/deployments/{id}", kind: "deployment" },
  { method: "GET", path: "/v1/deployments/{id}/build_logs", kind: "deployment" },
  {
    method: "GET",
    path: "/v1/deployments/{id}/app_logs?since=2024-01-01T00:00:00Z",
    kind: "deployment",
  },
  { method: "GET", path: "/v1/deployments/{id}/env_vars", kind: "deployment" },
  { method: "POST", path: "/v1/deployments/{id}/redeploy", kind: "deployment", body: {} },
  { method: "PUT", path: "/v1/deployments/{id}/domains/x.corpus.test", kind: "deployment" },
  { method: "DELETE", path: "/v1/deployments/{id}/domains/x.corpus.test", kind: "deployment" },
  { method: "PATCH", path: "/v1/databases/{id}", kind: "database", body: { description: "x" } },
  { method: "GET", path: "/v1/domains/{id}", kind: "domain" },
  { method: "DELETE", path: "/v1/domains/{id}", kind: "domain" },
  { method: "PATCH", path: "/v1/domains/{id}", kind: "domain", body: { deploymentId: null } },
  { method: "POST", path: "/v1/domains/{id}/verify", kind: "domain" },
  { method: "POST", path: "/v1/domains/{id}/certificates", kind: "domain", body: CERTIFICATE },
  { method: "POST", path: "/v1/domains/{id}/certificates/provision", kind: "domain" },
];

type IdKind = "org" | "project" | "deployment" | "database" | "domain";

const NOT_FOUND: Record<IdKind, string> = {
  org: "organizationNotFound",
  project: "projectNotFound",
  deployment: "deploymentNotFound",
  database: "databaseNotFound",
  domain: "domainNotFound",
};

const WELL_FORMED_UNKNOWN: Record<IdKind, string> = {
  org: UNKNOWN_UUID,
  project: UNKNOWN_UUID,
  deployment: UNKNOWN_DEPLOYMENT,
  database: UNKNOWN_UUID,
  domain: UNKNOWN_UUID,
};

/** The other organization's resource of each kind, as a placeholder. */
const OTHER: Record<IdKind, string> = {
  org: "{otherOrg}",
  project: "{otherProject}",
  deployment: "{otherDeployment}",
  database: "{otherDatabase}",
  domain: "{otherDomain}",
};

/** Host names (as path segments) that no deployment can have. */
const BAD_ATTACH_DOMAINS = [
  "%FF",
  "%00",
  "a..b",
  "-lead.test",
  "x_y.test",
  `${"a".repeat(64)}.test`,
  "%7Bproject.id%7D.test",
];

const LIST_ROUTES = [
  "/v1/organizations/{org}/projects",
  "/v1/projects/{project}/deployments",
  "/v1/organizations/{org}/databases",
  "/v1/organizations/{org}/domains",
];

const BAD_LIST_QUERIES = [
  "page=0",
  "page=-1",
  "page=abc",
  "page=1.5",
  "page=1e3",
  "limit=0",
  "limit=101",
  "limit=1000",
  "order=sideways",
  "sort=bogus",
];

const BAD_APP_LOG_QUERIES: [string, string][] = [
  ["since=garbage", "invalidTime"],
  ["until=garbage", "invalidTime"],
  ["since=2024-13-45T00:00:00Z", "invalidTime"],
  ["since=2024-01-01T00:00:00Z&limit=0", "invalidLimit"],
  ["since=2024-01-01T00:00:00Z&limit=10001", "invalidLimit"],
  ["since=2024-01-01T00:00:00Z&order=sideways", "invalidOrder"],
  ["since=2024-01-01T00:00:00Z&sort=bogus", "invalidSort"],
  ["since=2024-01-01T00:00:00Z&cursor=garbage", "invalidCursor"],
  ["level=loud", "invalidLevel"],
];

const BAD_ANALYTICS_QUERIES: [string, string, string][] = [
  ["/v1/projects/{project}/analytics", "since=garbage", "invalidTime"],
  ["/v1/projects/{project}/analytics", "until=yesterday", "invalidTime"],
  [
    "/v1/projects/{project}/analytics",
    "since=2024-02-01T00:00:00Z&until=2024-01-01T00:00:00Z",
    "invalidRange",
  ],
  [
    "/v1/projects/{project}/analytics",
    "since=2024-01-01T00:00:00Z&until=2024-03-01T00:00:00Z",
    "invalidRange",
  ],
  ["/v1/organizations/{org}/analytics", "since=garbage", "invalidTime"],
  [
    "/v1/organizations/{org}/analytics",
    "since=2024-01-01T00:00:00Z&until=2024-01-03T00:00:00Z",
    "invalidRange",
  ],
];

const WRONG_METHODS: [string, string][] = [
  ["POST", "/health"],
  ["DELETE", "/v1/organizations/{org}"],
  ["PUT", "/v1/organizations/{org}/projects"],
  ["DELETE", "/v1/organizations/{org}/projects"],
  ["PUT", "/v1/projects/{project}"],
  ["POST", "/v1/projects/{project}"],
  ["PATCH", "/v1/projects/{project}/deployments"],
  ["PUT", "/v1/deployments/{deployment}"],
  ["PATCH", "/v1/deployments/{deployment}"],
  ["POST", "/v1/deployments/{deployment}"],
  ["GET", "/v1/deployments/{deployment}/redeploy"],
  ["POST", "/v1/deployments/{deployment}/build_logs"],
  ["GET", "/v1/databases/{database}"],
  ["PUT", "/v1/databases/{database}"],
  ["PUT", "/v1/domains/{domain}"],
  ["GET", "/v1/domains/{domain}/verify"],
  ["GET", "/v1/deployments/{deployment}/domains/x.corpus.test"],
  ["OPTIONS", "/v1/projects/{project}"],
];

// ---- building the corpus ----

function json(value: unknown): string {
  return JSON.stringify(value);
}

/** `valid` as JSON text with its first key given twice. */
function duplicateFirstKey(valid: Record<string, unknown>): string {
  const [key, value] = Object.entries(valid)[0];
  return `{${json(key)}:${json(value)},${json(valid).slice(1)}`;
}

/** Bytes of a JSON object `{"description":"xxx…"}` exactly `size` bytes long. */
function bodyOfSize(size: number, field = "description"): Uint8Array<ArrayBuffer> {
  const prefix = `{"${field}":"`;
  const text = prefix + "x".repeat(size - prefix.length - 2) + '"}';
  return new TextEncoder().encode(text);
}

function hugeAssetMap(): Uint8Array<ArrayBuffer> {
  const parts = ['{"entryPointUrl":"main.ts","envVars":{},"assets":{'];
  for (let i = 0; i <= MAX_ASSETS; i++) {
    parts.push(`${i === 0 ? "" : ","}"f/${i}.ts":{"kind":"file","content":""}`);
  }
  parts.push(',"main.ts":{"kind":"file","content":""}}}');
  return new TextEncoder().encode(parts.join(""));
}

function tooManyValues(): Uint8Array<ArrayBuffer> {
  const text = `{"entryPointUrl":"main.ts","envVars":{},"assets":{},"domains":[${
    "0,".repeat(MAX_JSON_VALUES)
  }0]}`;
  return new TextEncoder().encode(text);
}

function deeplyNested(): Uint8Array<ArrayBuffer> {
  const depth = 100_000;
  return new TextEncoder().encode(
    `{"entryPointUrl":"main.ts","envVars":{},"assets":{},"compilerOptions":{"jsx":${
      "[".repeat(depth)
    }${"]".repeat(depth)}}}`,
  );
}

function buildCorpus(): Case[] {
  const cases: Case[] = [];
  const add = (c: Case) => cases.push(c);

  for (const endpoint of BODY_ENDPOINTS) {
    const base = { method: endpoint.method, path: endpoint.path };
    for (const [name, text, code] of BAD_JSON) {
      add({ ...base, name: `${endpoint.name}: ${name}`, body: text, status: 400, code });
    }
    add({
      ...base,
      name: `${endpoint.name}: a duplicate key`,
      body: duplicateFirstKey(endpoint.valid),
      status: 400,
      code: "invalidJson",
    });
    add({
      ...base,
      name: `${endpoint.name}: a __proto__ key`,
      body: `{"__proto__":{},${json(endpoint.valid).slice(1)}`,
      status: 400,
      code: "invalidJson",
    });
    for (const [name, bytes] of BAD_UTF8) {
      add({
        ...base,
        name: `${endpoint.name}: ${name}`,
        body: Uint8Array.from([
          ...new TextEncoder().encode('{"description":"'),
          ...bytes,
          0x22,
          0x7d,
        ]),
        status: 400,
        code: "invalidJson",
      });
    }
    for (const contentType of CONTENT_TYPES) {
      add({
        ...base,
        name: `${endpoint.name}: Content-Type ${contentType}`,
        body: json(endpoint.valid),
        contentType,
        status: 415,
        code: "unsupportedMediaType",
      });
    }
    for (const [field, values] of Object.entries(endpoint.wrongTypes)) {
      for (const value of values) {
        add({
          ...base,
          name: `${endpoint.name}: ${field} = ${json(value)?.slice(0, 40)}`,
          body: json({ ...endpoint.valid, [field]: value }),
          status: 400,
          code: "invalidRequest",
        });
      }
    }
    add({
      ...base,
      name: `${endpoint.name}: an unknown field`,
      body: json({ ...endpoint.valid, colour: "red" }),
      status: 400,
      code: "invalidRequest",
    });
    add({
      ...base,
      name: `${endpoint.name}: one byte over the limit`,
      body: () => bodyOfSize(endpoint.limit + 1),
      status: 413,
      code: "payloadTooLarge",
    });
    add({
      ...base,
      name: `${endpoint.name}: one byte over the limit, streamed`,
      body: () => bodyOfSize(endpoint.limit + 1),
      streamed: true,
      status: 413,
      code: "payloadTooLarge",
    });
  }

  const deploy = { method: "POST", path: "/v1/projects/{project}/deployments" };
  for (const field of ["entryPointUrl", "assets", "envVars"]) {
    const { [field]: _, ...rest } = DEPLOYMENT;
    add({ ...deploy, name: `deployment without ${field}`, body: json(rest), status: 400 });
  }
  for (const field of ["privateKey", "certificateChain"]) {
    const { [field as keyof typeof CERTIFICATE]: _, ...rest } = CERTIFICATE;
    add({
      method: "POST",
      path: "/v1/domains/{domain}/certificates",
      name: `certificate without ${field}`,
      body: json(rest),
      status: 400,
      code: "invalidRequest",
    });
  }
  add({
    method: "POST",
    path: "/v1/organizations/{org}/domains",
    name: "domain without a name",
    body: "{}",
    status: 400,
    code: "invalidRequest",
  });
  const nestedUnknown: [string, unknown][] = [
    ["an unknown asset field", withAsset("main.ts", { ...FILE, mode: 0o755 })],
    ["an unknown permissions field", { ...DEPLOYMENT, permissions: { read: ["/"] } }],
    ["an unknown compiler option", { ...DEPLOYMENT, compilerOptions: { strict: true } }],
    ["an unknown asset kind", withAsset("dir", { kind: "directory" })],
  ];
  for (const [name, body] of nestedUnknown) {
    add({ ...deploy, name, body: json(body), status: 400, code: "invalidRequest" });
  }
  add({
    ...deploy,
    name: `${MAX_ASSETS + 2} assets`,
    body: hugeAssetMap,
    status: 400,
    code: "tooManyAssets",
  });
  add({
    ...deploy,
    name: `more than ${MAX_JSON_VALUES} values`,
    body: tooManyValues,
    status: 413,
    code: "payloadTooLarge",
  });
  add({
    ...deploy,
    name: "arrays nested 100 000 deep",
    body: deeplyNested,
    status: 400,
    code: "invalidRequest",
  });
  add({ ...deploy, name: "no assets", body: json({ ...DEPLOYMENT, assets: {} }), status: 400 });
  add({
    ...deploy,
    name: "a requestTimeout beyond a double (Infinity)",
    body: `${json(DEPLOYMENT).slice(0, -1)},"requestTimeout":1e309}`,
    status: 400,
    code: "invalidRequest",
  });

  for (const content of BAD_BASE64) {
    add({
      ...deploy,
      name: `base64 content ${json(content)}`,
      body: json(withAsset("a.bin", { kind: "file", content, encoding: "base64" })),
      status: 400,
      code: "invalidAsset",
    });
  }
  add({
    ...deploy,
    name: "content and gitSha1",
    body: json(withAsset("a.ts", { ...FILE, gitSha1: "0".repeat(40) })),
    status: 400,
    code: "invalidAsset",
  });
  for (const gitSha1 of ["xyz", "0".repeat(39), "g".repeat(40)]) {
    add({
      ...deploy,
      name: `gitSha1 ${gitSha1.slice(0, 8)}…`,
      body: json(withAsset("a.ts", { kind: "file", gitSha1 })),
      status: 400,
      code: "invalidAsset",
    });
  }
  add({
    ...deploy,
    name: "an unknown gitSha1",
    body: json(withAsset("a.ts", { kind: "file", gitSha1: "0".repeat(40) })),
    status: 400,
    code: "unknownGitSha1",
  });
  for (const name of BAD_ASSET_NAMES) {
    add({
      ...deploy,
      name: `asset name ${json(name).slice(0, 40)}`,
      body: json(withAsset(name, FILE)),
      status: 400,
      code: "invalidAsset",
    });
  }
  for (const target of BAD_SYMLINK_TARGETS) {
    add({
      ...deploy,
      name: `symlink target ${json(target)}`,
      body: json(withAsset("link.ts", { kind: "symlink", target })),
      status: 400,
      code: "invalidAsset",
    });
  }
  for (const entryPointUrl of BAD_ENTRY_POINTS) {
    add({
      ...deploy,
      name: `entry point ${json(entryPointUrl)}`,
      body: json({ ...DEPLOYMENT, entryPointUrl }),
      status: 400,
      code: "invalidEntryPoint",
    });
  }
  for (const field of ["importMapUrl", "lockFileUrl"]) {
    for (const value of ["../x.json", "/etc/passwd", "file:///etc/hosts", "missing.json"]) {
      add({
        ...deploy,
        name: `${field} ${value}`,
        body: json({ ...DEPLOYMENT, [field]: value }),
        status: 400,
        code: "invalidRequest",
      });
    }
  }
  const badSettings: [string, Record<string, unknown>, string][] = [
    ["a reserved env var", { envVars: { DENO_DIR: "/" } }, "invalidEnvVar"],
    ["an env var name with =", { envVars: { "A=B": "x" } }, "invalidEnvVar"],
    ["a NUL in an env value", { envVars: { A: "x\0y" } }, "invalidEnvVar"],
    ["another tenant's host name", { domains: ["victim.localhost"] }, "invalidDomain"],
    ["a domain that is no host name", { domains: ["not a host"] }, "invalidDomain"],
    ["an unknown database", { databases: { default: UNKNOWN_UUID } }, "databaseNotFound"],
    ["the other org's database", { databases: { default: "{otherDatabase}" } }, "databaseNotFound"],
  ];
  for (const [name, extra, code] of badSettings) {
    add({ ...deploy, name, body: json({ ...DEPLOYMENT, ...extra }), status: 400, code });
  }

  for (const name of BAD_PROJECT_NAMES) {
    for (
      const [method, path] of [["POST", "/v1/organizations/{org}/projects"], [
        "PATCH",
        "/v1/projects/{project}",
      ]]
    ) {
      add({
        method,
        path,
        name: `${method} project name ${json(name).slice(0, 32)}`,
        body: json({ name }),
        status: 400,
        code: "invalidProjectName",
      });
    }
  }

  for (const route of ID_ROUTES) {
    const body = route.body === undefined ? undefined : json(route.body);
    const code = NOT_FOUND[route.kind];
    const at = (id: string) => route.path.replace("{id}", id);
    add({
      name: `${route.method} ${route.path}: unknown ${route.kind}`,
      method: route.method,
      path: at(WELL_FORMED_UNKNOWN[route.kind]),
      body,
      status: 404,
      code,
    });
    add({
      name: `${route.method} ${route.path}: malformed ${route.kind} id`,
      method: route.method,
      path: at("not-an-id"),
      body,
      status: 404,
      code,
    });
    add({
      name: `${route.method} ${route.path}: the other organization's ${route.kind}`,
      method: route.method,
      path: at(OTHER[route.kind]),
      body,
      status: 404,
      code,
    });
  }
  for (const id of MALFORMED_IDS) {
    for (const path of ["/v1/projects/{id}", "/v1/deployments/{id}", "/v1/domains/{id}"]) {
      add({
        name: `GET ${path} with id ${id.slice(0, 24)}`,
        method: "GET",
        path: path.replace("{id}", id),
        status: 404,
      });
    }
  }

  for (const domain of BAD_ATTACH_DOMAINS) {
    for (const method of ["PUT", "DELETE"]) {
      add({
        name: `${method} the domain ${domain.slice(0, 24)} of a deployment`,
        method,
        path: `/v1/deployments/{deployment}/domains/${domain}`,
        status: 400,
        code: "invalidDomain",
      });
    }
  }

  for (const route of LIST_ROUTES) {
    for (const query of BAD_LIST_QUERIES) {
      add({
        name: `GET ${route}?${query}`,
        method: "GET",
        path: `${route}?${query}`,
        status: 400,
        code: "invalidQuery",
      });
    }
  }
  for (const [query, code] of BAD_APP_LOG_QUERIES) {
    add({
      name: `app logs ?${query}`,
      method: "GET",
      path: `/v1/deployments/{deployment}/app_logs?${query}`,
      status: 400,
      code,
    });
  }
  for (const [route, query, code] of BAD_ANALYTICS_QUERIES) {
    add({
      name: `GET ${route}?${query}`,
      method: "GET",
      path: `${route}?${query}`,
      status: 400,
      code,
    });
  }

  for (const [method, path] of WRONG_METHODS) {
    add({ name: `${method} ${path}`, method, path, status: 405, code: "methodNotAllowed" });
  }
  return cases;
}

const CORPUS = buildCorpus();

// ---- running it ----

function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\{(\w+)\}/g, (whole, name) => values[name] ?? whole);
}

function placeholders(own: Resources, other: Resources): Record<string, string> {
  return {
    org: own.organizationId,
    project: own.projectId,
    deployment: own.deploymentId,
    database: own.databaseId,
    domain: own.domainId,
    otherOrg: other.organizationId,
    otherProject: other.projectId,
    otherDeployment: other.deploymentId,
    otherDatabase: other.databaseId,
    otherDomain: other.domainId,
  };
}

async function send(api: ApiHost, c: Case, values: Record<string, string>): Promise<Response> {
  let body: BodyInit | undefined;
  if (typeof c.body === "string") body = fill(c.body, values);
  else if (typeof c.body === "function") body = c.body();
  else body = c.body;
  if (c.streamed && body !== undefined) {
    const bytes = typeof body === "string"
      ? new TextEncoder().encode(body)
      : body as Uint8Array<ArrayBuffer>;
    body = ReadableStream.from([bytes]);
  }
  const headers: Record<string, string> = {};
  const contentType = c.contentType === undefined
    ? (c.body === undefined ? null : "application/json")
    : c.contentType;
  if (contentType !== null) headers["content-type"] = contentType;
  return await api.request(c.method, fill(c.path, values), { body, headers });
}

/** What is wrong with an answer to `c`, or `undefined` when it is right. */
async function problemWith(response: Response, c: Case): Promise<string | undefined> {
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    return `${response.status}, not JSON: ${text.slice(0, 200)}`;
  }
  const shown = `${response.status} ${text.slice(0, 300)}`;
  if (response.status !== c.status) return `expected ${c.status}, got ${shown}`;
  if (!(response.headers.get("content-type") ?? "").startsWith("application/json")) {
    return `content-type ${response.headers.get("content-type")}`;
  }
  if (typeof body.code !== "string" || body.code === "") return `no code: ${shown}`;
  if (typeof body.message !== "string" || body.message === "") return `no message: ${shown}`;
  if (c.code !== undefined && body.code !== c.code) return `expected code ${c.code}, got ${shown}`;
  if (c.status === 405 && !response.headers.get("allow")) return "405 without Allow";
  return undefined;
}

Deno.test(`API corpus: ${CORPUS.length} malformed requests get a 4xx {code, message}, never a 5xx`, async () => {
  await using api = await startApiHost({ maxBodyBytes: MAX_BODY_BYTES });
  const own = await createResources(
    api,
    { id: api.host.organizationId, token: api.host.token },
    "own",
  );
  const other = await createResources(api, api.createOrganization("other"), "other");
  const values = placeholders(own, other);

  assert.ok(CORPUS.length >= 200, `only ${CORPUS.length} cases`);
  const failures: string[] = [];
  for (const c of CORPUS) {
    const response = await send(api, c, values);
    const problem = await problemWith(response, c);
    if (problem) failures.push(`${c.name} (${c.method} ${c.path.slice(0, 80)}): ${problem}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${CORPUS.length} cases failed`);

  // Nothing the corpus sent was recorded: the fixtures are all there is.
  for (const resources of [own, other]) {
    const deployments = await ok<{ id: string }[]>(
      api,
      "GET",
      `/v1/projects/${resources.projectId}/deployments`,
      { token: resources.token },
    );
    assert.deepEqual(deployments.map((d) => d.id), [resources.deploymentId]);
    const projects = await ok<unknown[]>(
      api,
      "GET",
      `/v1/organizations/${resources.organizationId}/projects`,
      { token: resources.token },
    );
    assert.equal(projects.length, 1);
  }

  // And the host still serves: its health, a new deployment, and that deployment's answers.
  assert.deepEqual(await ok(api, "GET", "/health", { token: null }), { ok: true });
  const deployment = await ok(api, "POST", `/v1/projects/${own.projectId}/deployments`, {
    json: helloDeployment("still serving"),
  });
  assert.equal(await waitForBuild(api, String(deployment.id)), "success");
  const url = `http://${own.projectName}-${deployment.id}.localhost:${api.host.port}/`;
  const answer = await invoke(url, {}, { via: api.origin });
  assert.equal(answer.status, 200);
  assert.equal(await answer.text(), "still serving");
});
