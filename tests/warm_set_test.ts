/** The warm set kept across a restart: written whole, read back, anything else ignored. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readWarmSet, writeWarmSet } from "../host/tenant/warm_set.ts";

Deno.test("the warm set reads back as written; a missing, broken or foreign file is empty", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dt-warm-set-" });
  const path = join(dir, "warm.json");
  try {
    assert.deepEqual(readWarmSet(path), [], "none yet");
    writeWarmSet(path, ["b2c4", "a1"]);
    assert.deepEqual(readWarmSet(path), ["b2c4", "a1"]);
    for (
      const text of [
        "{",
        "null",
        '{"warm":"a1"}',
        '{"warm":[1]}',
        '{"warm":["../../etc"]}',
        `{"warm":["${"a".repeat(65)}"]}`,
      ]
    ) {
      await Deno.writeTextFile(path, text);
      assert.deepEqual(readWarmSet(path), [], text);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
