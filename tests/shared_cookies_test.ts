/**
 * A deployment cannot set a cookie for the base domain or its parents (cookie tossing: it would
 * reach every other deployment's users), on either data path; its own cookies pass.
 */
import assert from "node:assert/strict";
import {
  setsSharedCookie,
  sharedCookiePattern,
  sharedDomains,
} from "../host/edge/shared_cookies.ts";
import { deployModule, startApiHost, testEachDataPath } from "./helpers/api_host.ts";
import { rawGet } from "./helpers/raw_http.ts";

/** Cookie lines, and whether each names a shared domain under `apps.example.com`. */
const CASES: [string, boolean][] = [
  ["a=1; Domain=apps.example.com", true],
  ["a=1; Path=/; domain=.APPS.example.com; Secure", true],
  ["a=1;Domain = example.com ;HttpOnly", true],
  ["a=1; Domain=com", true],
  ["a=1; Domain=apps.example.com.", true],
  ["a=1; Domain=t-1.apps.example.com; Domain=example.com", true],
  ["a=1; Domain=example.com; Domain=t-1.apps.example.com", true],
  ["a=1; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Domain=apps.example.com", true],
  ["a=1; Domain=t-1.apps.example.com", false],
  ["a=1; Domain=notexample.com", false],
  ["a=1; Domain=example.com.evil", false],
  ["a=1; Path=/domain=example.com", false],
  ["domain=example.com; Path=/", false],
  ["a=Domain=example.com", false],
  ["a=1", false],
];

Deno.test("the base domain's parents are shared, and only a Domain attribute naming one counts", () => {
  assert.deepEqual(sharedDomains("Apps.Example.com"), ["apps.example.com", "example.com", "com"]);
  assert.deepEqual(sharedDomains("localhost"), ["localhost"]);
  const shared = sharedDomains("apps.example.com");
  // HAProxy's pattern, read as JavaScript would (the POSIX class is its only difference).
  const pattern = new RegExp(
    sharedCookiePattern("apps.example.com").replaceAll("[[:blank:]]", "[ \\t]"),
  );
  for (const [line, expected] of CASES) {
    assert.equal(setsSharedCookie(line, shared), expected, line);
    assert.equal(pattern.test(line), expected, `HAProxy's pattern: ${line}`);
  }
});

testEachDataPath(
  "a deployment's cookies for the base domain do not leave the host; its own do",
  async (frontProxy) => {
    await using api = await startApiHost({ frontProxy });
    const { host } = await deployModule(
      api,
      frontProxy ? "tosser-proxy" : "tosser-router",
      `Deno.serve((request) => {
  const own = request.headers.get("host").split(":")[0];
  const headers = new Headers();
  for (const cookie of [
    "shared=1; Domain=localhost; Path=/",
    "dotted=2; Path=/; domain=.LocalHost",
    "last=3; Domain=" + own + "; Domain=localhost",
    "mine=4; Path=/",
    "own=5; Domain=" + own,
    "domain=localhost; Path=/",
  ]) headers.append("set-cookie", cookie);
  return new Response("cookies", { headers });
});
`,
    );
    const { status, head } = await rawGet(api.host.port, host);
    assert.equal(status, 200, head);
    const cookies = head.split("\r\n")
      .filter((line) => /^set-cookie:/i.test(line))
      .map((line) => line.slice(line.indexOf(":") + 1).trim())
      .filter((value) => value !== ";"); // HAProxy's blanked line, which browsers ignore
    assert.deepEqual(cookies, [
      "mine=4; Path=/",
      `own=5; Domain=${host.split(":")[0]}`,
      "domain=localhost; Path=/",
    ]);
  },
);
