/**
 * Which deployments the bootstrap prepares for Node's HTTP server (loading Node's `net` costs a
 * start 10–40 ms): those whose modules name Node's server modules, or whose npm packages do —
 * not every deployment that uses npm.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { mayServeWithNode } from "../host/tenant/node_server.ts";

/** Writes `files` (path → content) under a new temp dir; returns it. */
async function tree(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "dt-node-server-" });
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), content);
  }
  return root;
}

const NPM = "npm/registry.npmjs.org";

Deno.test("a deployment whose modules or npm packages name Node's server modules is prepared; others are not", async () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ["Deno.serve alone", { "app/main.ts": "Deno.serve(() => new Response());" }, false],
    ["node:http in a module", { "app/main.ts": 'import http from "node:http";' }, true],
    ["require('https')", { "app/main.cjs": 'const https = require("https");' }, true],
    [
      "npm: with packages that serve (express)",
      {
        "app/main.ts": 'import express from "npm:express";',
        [`cache/${NPM}/express/4.21.0/lib/application.js`]: 'var http = require("http");',
      },
      true,
    ],
    [
      "npm: with packages that do not (zod, hono)",
      {
        "app/main.ts": 'import { z } from "npm:zod";\nDeno.serve(() => new Response());',
        [`cache/${NPM}/zod/4.0.0/index.js`]: "export const z = {};",
        [`cache/${NPM}/hono/4.0.0/dist/index.js`]: "export class Hono {}",
      },
      false,
    ],
    [
      "npm: in deno.json, packages not fetched: unsure",
      {
        "app/main.ts": 'import { z } from "zod";',
        "app/deno.json": '{ "imports": { "zod": "npm:zod@4" } }',
      },
      true,
    ],
    [
      "a package.json, nothing fetched: unsure",
      { "app/main.ts": "", "app/package.json": "{}" },
      true,
    ],
  ];
  for (const [name, files, expected] of cases) {
    const root = await tree(files);
    try {
      assert.equal(mayServeWithNode(join(root, "app"), join(root, "cache")), expected, name);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  }
});
