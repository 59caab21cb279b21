/** The warm pool's size: recent bursts of cold starts, a restart's burst, the memory budget. */
import assert from "node:assert/strict";
import {
  BURST_WINDOW_MS,
  defaultPoolBudgetMb,
  DEMAND_MEMORY_MS,
  POOLED_RUNTIME_MB,
  PoolSizer,
} from "../host/tenant/pool_sizer.ts";

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => now += ms };
}

Deno.test("the pool grows to the largest burst of cold starts and shrinks once it is old", () => {
  const time = clock();
  const sizer = new PoolSizer({ minimum: 1, budgetMb: 64 * POOLED_RUNTIME_MB, now: time.now });
  assert.equal(sizer.target, 1, "the minimum before any cold start");
  for (let i = 0; i < 12; i++) sizer.coldStart();
  assert.equal(sizer.target, 12);
  // Cold starts spread out never make a burst larger than the window holds.
  time.advance(BURST_WINDOW_MS + 1);
  for (let i = 0; i < 5; i++) {
    sizer.coldStart();
    time.advance(BURST_WINDOW_MS + 1);
  }
  assert.equal(sizer.target, 12, "the peak is remembered");
  time.advance(DEMAND_MEMORY_MS);
  assert.equal(sizer.target, 1, "forgotten after a quiet while");
});

Deno.test("the memory budget caps the pool; the operator's minimum holds below it", () => {
  const time = clock();
  const capped = new PoolSizer({ minimum: 1, budgetMb: 4 * POOLED_RUNTIME_MB, now: time.now });
  for (let i = 0; i < 40; i++) capped.coldStart();
  assert.equal(capped.target, 4);
  const minimum = new PoolSizer({ minimum: 3, budgetMb: 0, now: time.now });
  assert.equal(minimum.target, 3);
  const off = new PoolSizer({ minimum: 0, budgetMb: 1024, now: time.now });
  for (let i = 0; i < 40; i++) off.coldStart();
  assert.equal(off.target, 0, "--warm-pool 0 turns the pool off whatever the demand");
  assert.equal(defaultPoolBudgetMb(24 * 1024), 1024);
  assert.equal(defaultPoolBudgetMb(16 * 1024), 819);
  // Room for a burst of 32 where that is at most an eighth of the machine.
  assert.equal(defaultPoolBudgetMb(8 * 1024), 512);
  assert.equal(defaultPoolBudgetMb(4 * 1024), 512);
  assert.equal(defaultPoolBudgetMb(2 * 1024), 256);
});

Deno.test("the peak is kept across a restart, and forgotten as it would have been", () => {
  const time = clock();
  const before = new PoolSizer({ minimum: 1, budgetMb: 1024, now: time.now });
  for (let i = 0; i < 3; i++) before.coldStart();
  const saved = before.demand();
  assert.deepEqual(saved, { peak: 3, peakAt: time.now() });
  const after = new PoolSizer({ minimum: 1, budgetMb: 1024, saved, now: time.now });
  assert.equal(after.target, 3);
  time.advance(DEMAND_MEMORY_MS);
  assert.equal(after.target, 1);
  assert.deepEqual(after.demand().peak, 0);
});
