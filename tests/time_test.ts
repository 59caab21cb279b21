import assert from "node:assert/strict";
import { parseDuration, parseRfc3339, parseTimeArg } from "../lib/time.ts";

const NOW = Date.parse("2024-08-01T12:00:00Z");

Deno.test("RFC 3339 times parse, with offsets and fractions; other dates do not", () => {
  assert.equal(parseRfc3339("2024-08-01T00:00:00Z"), Date.parse("2024-08-01T00:00:00Z"));
  assert.equal(parseRfc3339("2024-08-01T02:00:00.5+02:00"), Date.parse("2024-08-01T00:00:00.5Z"));
  assert.equal(parseRfc3339("2024-08-01"), undefined);
  assert.equal(parseRfc3339("2024-08-01T00:00:00"), undefined, "no zone: ambiguous");
  assert.equal(parseRfc3339("2024-13-45T00:00:00Z"), undefined);
  assert.equal(parseRfc3339("yesterday"), undefined);
});

Deno.test("durations take s, m, h, d, w and combinations", () => {
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("15m"), 15 * 60_000);
  assert.equal(parseDuration("2h"), 2 * 3_600_000);
  assert.equal(parseDuration("1d"), 86_400_000);
  assert.equal(parseDuration("1h30m"), 90 * 60_000);
  assert.equal(parseDuration("1w"), 7 * 86_400_000);
  for (const bad of ["", "15", "m", "15 m", "-5m", "1y", "2h garbage"]) {
    assert.equal(parseDuration(bad), undefined, bad);
  }
});

Deno.test("--since style arguments: a time, or a duration ago", () => {
  assert.equal(parseTimeArg("15m", NOW), NOW - 15 * 60_000);
  assert.equal(parseTimeArg("2024-07-31T12:00:00Z", NOW), NOW - 86_400_000);
  assert.equal(parseTimeArg("soon", NOW), undefined);
});
