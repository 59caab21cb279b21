/**
 * A paced load generator, run as its own process: sends `rate` requests per second for
 * `seconds` (open loop: one request every 1/rate s whatever the latency), then prints one JSON
 * line of latencies in ms. Used where wrk's closed loop would not hold the rate fixed.
 *
 * The first half second is sent but its latencies are not kept: that is the client's own start
 * (its JIT, its first connections), 20–40 ms per request on either path, and it decided the p99
 * of a 5 s window. Its failures still count.
 *
 * Usage: deno run -A bench/pace.ts <url> <rate> <seconds> [host-header[,host-header…]]
 * (several host headers: the requests go round-robin across them).
 *
 * @module
 */
import { fetchThroughProxy, proxyAgent } from "../lib/proxy_fetch.ts";

const [url, rateText, secondsText, hostList] = Deno.args;
const rate = Number(rateText);
const WARMUP_SECONDS = 0.5;
const warmup = Math.round(rate * WARMUP_SECONDS);
const total = warmup + Math.round(rate * Number(secondsText));
const hosts = hostList ? hostList.split(",") : [];
// Both paths, through the host and to a bare server, go out the same way: node:http sending
// the absolute URL to the server at `url` (Deno's proxy client looks each name up in DNS).
const server = new URL(new URL(url).origin);
const agent = proxyAgent();
const targets = hosts.length > 0
  ? hosts.map((host) => `http://${host}${new URL(url).pathname}`)
  : [url];
const latencies: number[] = [];
let errors = 0;
const inflight: Promise<void>[] = [];
const start = performance.now();
for (let i = 0; i < total; i++) {
  const due = start + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  inflight.push((async () => {
    const sent = performance.now();
    try {
      const response = await fetchThroughProxy(
        server,
        new Request(targets[i % targets.length]),
        agent,
      );
      await response.arrayBuffer();
      if (!response.ok) errors++;
      else if (i >= warmup) latencies.push(performance.now() - sent);
    } catch {
      errors++;
    }
  })());
}
await Promise.all(inflight);
agent.destroy();
console.log(JSON.stringify({ latencies, errors }));
