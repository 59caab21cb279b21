/**
 * `followAppLogs` joins past lines and the live stream, and rejoins them after a cut, with no
 * line lost and none twice. The API here is an in-memory log whose timing the test controls
 * (when a line lands relative to the subscription and to the past read); the whole command
 * against a real host is tests/cli_logs_reconnect_test.ts.
 */
import assert from "node:assert/strict";
import type { AppLogPage, AppLogQuery, DeployApi } from "../lib/api.ts";
import { followAppLogs } from "../lib/follow_logs.ts";
import type { AppLogEntry } from "../lib/types.ts";

/** An app log held in memory; `hooks` run at the moments a race would hit. */
class MemoryLogs {
  readonly lines: AppLogEntry[] = [];
  readonly hooks: {
    beforeSubscribed?: () => void | Promise<void>;
    duringQuery?: () => void;
  } = {};
  #streams = new Set<ReadableStreamDefaultController<AppLogEntry>>();

  log(time: string, message: string): void {
    const entry: AppLogEntry = { time, level: "info", message, region: "local" };
    this.lines.push(entry);
    for (const stream of this.#streams) stream.enqueue(entry);
  }

  /** Every live stream fails as a dropped connection does. */
  cut(): void {
    for (const stream of this.#streams) stream.error(new TypeError("error reading a body"));
    this.#streams.clear();
  }

  api(): DeployApi {
    const appLogs = {
      query: (_id: string, query: AppLogQuery = {}): Promise<AppLogPage> => {
        const since = query.since === undefined ? -Infinity : new Date(query.since).getTime();
        const until = new Date(query.until ?? Date.now()).getTime();
        const entries = this.lines.filter((entry) => {
          const time = Date.parse(entry.time);
          return time >= since && time < until;
        }).reverse().slice(0, query.limit ?? 100);
        this.hooks.duringQuery?.(); // logged after the page was read: only live has it
        return Promise.resolve({ entries });
      },
      subscribe: async (_id: string, _filter = {}, signal?: AbortSignal) => {
        await Promise.resolve();
        await this.hooks.beforeSubscribed?.(); // not yet subscribed: only a later past read has it
        let controller!: ReadableStreamDefaultController<AppLogEntry>;
        const stream = new ReadableStream<AppLogEntry>({ start: (c) => void (controller = c) });
        this.#streams.add(controller);
        signal?.addEventListener("abort", () => {
          this.#streams.delete(controller);
          try {
            controller.close();
          } catch { /* the reader cancelled it first */ }
        });
        return (async function* () {
          yield* stream;
        })();
      },
    };
    const live = async function* (id: string, filter = {}, signal?: AbortSignal) {
      yield* await appLogs.subscribe(id, filter, signal);
    };
    return { appLogs: { ...appLogs, live } } as unknown as DeployApi;
  }
}

/** Follows `logs` until `count` lines came, running `step` after each line; the messages. */
async function follow(
  logs: MemoryLogs,
  count: number,
  step: (messages: string[]) => void = () => {},
): Promise<string[]> {
  const stop = new AbortController();
  const messages: string[] = [];
  const timeout = setTimeout(() => stop.abort(), 10_000);
  try {
    const lines = followAppLogs(logs.api(), "d1", {
      signal: stop.signal,
      past: { limit: 100 },
      onCut: () => {},
    });
    for await (const entry of lines) {
      messages.push(entry.message);
      step(messages);
      if (messages.length >= count) break;
    }
    return messages;
  } finally {
    clearTimeout(timeout);
    stop.abort();
  }
}

const at = (ms: number) => new Date(Date.parse("2026-01-01T00:00:00Z") + ms).toISOString();

Deno.test("a line logged while subscribing is read as a past line, once", async () => {
  const logs = new MemoryLogs();
  logs.log(at(0), "old");
  logs.hooks.beforeSubscribed = () => {
    logs.hooks.beforeSubscribed = undefined;
    logs.log(at(1), "while subscribing");
  };
  const messages = await follow(logs, 3, (seen) => {
    if (seen.length === 2) logs.log(at(2), "live");
  });
  assert.deepEqual(messages, ["old", "while subscribing", "live"]);
});

Deno.test("a line both in the past read and the live stream comes once", async () => {
  const logs = new MemoryLogs();
  logs.log(at(0), "old");
  // Subscribed, then logged before the past read: both have it.
  const api = logs.api();
  const subscribe = api.appLogs.subscribe.bind(api.appLogs);
  let once = true;
  logs.hooks.duringQuery = () => {
    if (!once) return;
    once = false;
    logs.log(at(2), "after the page");
  };
  api.appLogs.subscribe = async (...args) => {
    const live = await subscribe(...args);
    logs.log(at(1), "in both");
    return live;
  };
  const stop = new AbortController();
  const messages: string[] = [];
  for await (
    const entry of followAppLogs(api, "d1", { signal: stop.signal, past: { limit: 100 } })
  ) {
    messages.push(entry.message);
    if (entry.message === "after the page") setTimeout(() => stop.abort(), 100);
  }
  assert.deepEqual(messages, ["old", "in both", "after the page"]);
});

Deno.test("after a cut, lines logged meanwhile come once, same-millisecond twins included", async () => {
  const logs = new MemoryLogs();
  logs.log(at(0), "first");
  const messages = await follow(logs, 5, (seen) => {
    if (seen.length === 1) logs.log(at(5), "tick");
    if (seen.length === 2) {
      logs.cut();
      // While the stream is down: a twin of the last line, in its millisecond, and another.
      logs.log(at(5), "tick");
      logs.log(at(6), "down");
      setTimeout(() => logs.log(at(7), "back"), 1_500);
    }
  });
  assert.deepEqual(messages, ["first", "tick", "tick", "down", "back"]);
});

Deno.test("past lines are not held back by a live request the API is slow to answer", async () => {
  const logs = new MemoryLogs();
  logs.log(at(0), "old");
  let answer = () => {};
  logs.hooks.beforeSubscribed = () => new Promise<void>((resolve) => answer = resolve);
  const started = Date.now();
  const messages = await follow(logs, 2, (seen) => {
    if (seen.length !== 1) return;
    assert.ok(Date.now() - started < 5_000, "the past line came while the live request waited");
    answer();
    setTimeout(() => logs.log(at(1), "live"), 50);
  });
  assert.deepEqual(messages, ["old", "live"]);
});
