/**
 * A paced load generator, run as its own process: sends `rate` requests per second for
 * `seconds` (open loop: one request every 1/rate s whatever the latency), then prints one JSON
 * line of latencies in ms. Used where wrk's closed loop would not hold the rate fixed.
 *
 * Usage: deno run -A bench/pace.ts <url> <rate> <seconds> [host-header[,host-header…]]
 * (several host headers: the requests go round-robin across them).
 *
 * @module
 */
const [url, rateText, secondsText, hostList] = Deno.args;
const rate = Number(rateText);
const total = Math.round(rate * Number(secondsText));
const hosts = hostList ? hostList.split(",") : [];
const client = hosts.length > 0
  ? Deno.createHttpClient({ proxy: { url: new URL(url).origin } })
  : Deno.createHttpClient({});
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
      const response = await fetch(targets[i % targets.length], { client });
      await response.arrayBuffer();
      if (response.ok) latencies.push(performance.now() - sent);
      else errors++;
    } catch {
      errors++;
    }
  })());
}
await Promise.all(inflight);
client.close();
console.log(JSON.stringify({ latencies, errors }));
