import assert from "node:assert/strict";
import { analyticsRows, sumUsage, toCsv } from "../lib/analytics.ts";
import type { Analytics } from "../lib/types.ts";

/** As Deno Deploy answers, with fields this client does not use. */
const DEPLOY_ANSWER: Analytics = {
  fields: [
    { name: "time", type: "time" },
    { name: "requestCount", type: "number" },
    { name: "cpuSeconds", type: "number" },
    { name: "uptimeSeconds", type: "number" },
    { name: "maxRssMemoryBytes", type: "number" },
    { name: "networkIngressBytes", type: "number" },
    { name: "networkEgressBytes", type: "number" },
    { name: "kvReadCount", type: "number" },
    { name: "kvWriteCount", type: "number" },
    { name: "kvReadUnits", type: "number" },
  ],
  values: [
    ["2023-08-01T00:00:00Z", 10, 0.1, 900, 5000, 100, 2000, 3, 1, 99],
    ["2023-08-01T00:15:00Z", 5, 0.2, 900, 7000, 50, 1000, 0, 2, 99],
  ],
};

Deno.test("rows are found by field name; extra fields are ignored", () => {
  const rows = analyticsRows(DEPLOY_ANSWER);
  assert.deepEqual(rows[1], {
    time: "2023-08-01T00:15:00Z",
    requestCount: 5,
    cpuSeconds: 0.2,
    uptimeSeconds: 900,
    maxRssMemoryBytes: 7000,
    networkIngressBytes: 50,
    networkEgressBytes: 1000,
    kvReadCount: 0,
    kvWriteCount: 2,
  });
  const partial = analyticsRows({
    fields: [{ name: "requestCount", type: "number" }, { name: "time", type: "time" }],
    values: [[4, "2023-08-01T00:00:00Z"]],
  });
  assert.equal(partial[0].requestCount, 4);
  assert.equal(partial[0].time, "2023-08-01T00:00:00Z");
  assert.equal(partial[0].kvWriteCount, 0);
});

Deno.test("totals sum the counters and keep the largest memory", () => {
  assert.deepEqual(sumUsage(analyticsRows(DEPLOY_ANSWER)), {
    requestCount: 15,
    cpuSeconds: 0.3,
    uptimeSeconds: 1800,
    maxRssMemoryBytes: 7000,
    networkIngressBytes: 150,
    networkEgressBytes: 3000,
    kvReadCount: 3,
    kvWriteCount: 3,
  });
});

Deno.test("CSV quotes only what needs quoting", () => {
  assert.equal(
    toCsv(["name", "count"], [["plain", 1], ['with "quotes", and comma', 2], ["two\nlines", 3]]),
    'name,count\nplain,1\n"with ""quotes"", and comma",2\n"two\nlines",3\n',
  );
});
