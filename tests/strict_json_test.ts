import assert from "node:assert/strict";
import { parseStrictJson, parseStrictJsonBytes } from "../host/api/strict_json.ts";
import { RequestError } from "../host/api/validate.ts";

function refused(text: string, status: number, pattern: RegExp, maxValues?: number): void {
  assert.throws(
    () => parseStrictJson(text, { maxValues }),
    (error: unknown) => {
      assert.ok(error instanceof RequestError, String(error));
      assert.equal(error.status, status, error.message);
      assert.match(error.message, pattern);
      return true;
    },
    text.slice(0, 80),
  );
}

/** Strings built to confuse a scanner: quotes, backslashes and JSON punctuation inside. */
const TRICKY_STRINGS = [
  "",
  '"',
  "\\",
  '\\"',
  '\\\\"',
  '{"a":1,"a":2}',
  "}]:,{[",
  "\u2028\u0000\u001f",
  "😀 é",
];

/** A deterministic pseudo-random JSON value. */
function randomValue(seed: { n: number }, depth: number): unknown {
  const next = () => (seed.n = (seed.n * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)];
  const kind = depth > 3 ? pick(["s", "n", "l"]) : pick(["s", "n", "l", "o", "a"]);
  if (kind === "s") return pick(TRICKY_STRINGS) + pick(TRICKY_STRINGS);
  if (kind === "n") return pick([0, -1.5e-7, 42, 1e21]);
  if (kind === "l") return pick([true, false, null]);
  if (kind === "a") {
    return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(seed, depth + 1));
  }
  const object: Record<string, unknown> = {};
  for (let i = Math.floor(next() * 4); i > 0; i--) {
    object[pick(TRICKY_STRINGS) + i] = randomValue(seed, depth + 1);
  }
  return object;
}

Deno.test("parseStrictJson parses what JSON.parse does when keys are unique", () => {
  const seed = { n: 7 };
  for (let i = 0; i < 300; i++) {
    const value = randomValue(seed, 0);
    for (const text of [JSON.stringify(value), JSON.stringify(value, null, 2)]) {
      assert.deepEqual(parseStrictJson(text), JSON.parse(text), text);
    }
  }
  // The same key in different objects is no duplicate.
  assert.deepEqual(parseStrictJson('{"a":{"a":1},"b":[{"a":1},{"a":2}]}'), {
    a: { a: 1 },
    b: [{ a: 1 }, { a: 2 }],
  });
});

Deno.test("parseStrictJson refuses a key given twice, however it is spelled", () => {
  refused('{"a":1,"a":2}', 400, /"a" appears twice in the request body/);
  refused('{"a":1,"\\u0061":2}', 400, /"a" appears twice/);
  refused('{"x":"\\"a\\":","a":1, "a":2}', 400, /"a" appears twice/);
  refused(
    '{"assets":{"main.ts":{"kind":"file"},"main.ts":{"kind":"file"}}}',
    400,
    /"main\.ts" appears twice in assets$/,
  );
  refused('{"permissions":{"net":[{"a":1,"a":1}]}}', 400, /in permissions\.net\[0\]/);
  // Large objects too (their keys are kept differently).
  const many = Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`).join(",");
  assert.equal(Object.keys(parseStrictJson(`{${many}}`) as object).length, 40);
  refused(`{${many},"k3":0}`, 400, /"k3" appears twice/);
  refused(`{${many},"k39":0}`, 400, /"k39" appears twice/);
});

Deno.test("parseStrictJson refuses __proto__ keys", () => {
  refused('{"__proto__":{}}', 400, /"__proto__" is not allowed/);
  refused('{"envVars":{"\\u005f_proto__":"x"}}', 400, /"__proto__" is not allowed in envVars/);
  // As a value it is just text.
  assert.deepEqual(parseStrictJson('{"a":"__proto__"}'), { a: "__proto__" });
});

Deno.test("parseStrictJson counts values before building any", () => {
  assert.deepEqual(parseStrictJson("[1,2,3]", { maxValues: 3 }), [1, 2, 3]);
  refused("[1,2,3,4]", 413, /more than 3 values/, 3);
  refused('{"a":1,"b":2,"c":3,"d":4}', 413, /more than 3 values/, 3);
  // Punctuation inside strings is not counted.
  assert.deepEqual(parseStrictJson('["a,b,c,d,e"]', { maxValues: 1 }), ["a,b,c,d,e"]);
});

Deno.test("parseStrictJson reports syntax errors as invalidJson", () => {
  for (const text of ['{"a":', '{"a":"unterminated', "[1,]", "{} x", '{"a" 1}']) {
    refused(text, 400, /not valid JSON/);
  }
});

Deno.test("a body too large for one string is parsed piece by piece, with the same result", () => {
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const long = (seed: string) => seed.repeat(40);
  const body = {
    assets: Object.fromEntries(
      TRICKY_STRINGS.map((s, i) => [`f${i}.txt`, { kind: "file", content: long(s + "x") }]),
    ),
    list: [long("a"), "short", long('\\"/'), { nested: long("😀") }],
    slash: JSON.parse(`"${"\\/".repeat(50)}"`),
  };
  const bytes = encode(body);
  const pieces = { onePieceBytes: 0, spillBytes: 32 };
  assert.deepEqual(parseStrictJsonBytes(bytes, pieces), body);
  assert.deepEqual(parseStrictJsonBytes(bytes), body, "small bodies: one piece");
  // Escaped slashes, which JSON.stringify never writes, inside a long literal.
  const escaped = new TextEncoder().encode(`{"a":"${"\\/".repeat(50)}"}`);
  assert.deepEqual(parseStrictJsonBytes(escaped, pieces), { a: "/".repeat(50) });

  const refusedBytes = (raw: Uint8Array, pattern: RegExp) =>
    assert.throws(() => parseStrictJsonBytes(raw, pieces), (error: unknown) => {
      assert.ok(error instanceof RequestError && error.status === 400, String(error));
      assert.match(error.message, pattern);
      return true;
    });
  refusedBytes(encode({ a: long("x"), b: 1 }).slice(0, -1), /JSON/);
  const duplicate = new TextEncoder().encode(`{"a":"${long("x")}","a":"${long("y")}"}`);
  refusedBytes(duplicate, /"a"/);
  const badUtf8 = new Uint8Array([
    ...new TextEncoder().encode(`{"a":"${long("x")}`),
    0xff,
    0x22,
    0x7d,
  ]);
  refusedBytes(badUtf8, /UTF-8/);
  refusedBytes(new TextEncoder().encode(`{"a":"${long("x")}`), /JSON/);
});
