// The load generator's own process: autocannon against one socket on 127.0.0.1, bounded in time.
// Run by bench/lib/load.ts as a child process (pinned to its own core where it can be), so that the
// client's CPU never competes with the orchestration and its use can be measured apart from workerd.
// Reads its options as JSON from argv[2]; prints one JSON result line on stdout.
import autocannon from "autocannon";

const options = JSON.parse(process.argv[2]);
let latencies = new Float64Array(1 << 16);
let count = 0;
const started = performance.now();
const cpuBefore = process.cpuUsage();

const instance = autocannon(
  {
    url: options.baseUrl,
    connections: options.connections,
    pipelining: 1,
    duration: options.seconds,
    timeout: 10,
    // A fixed offered rate (requests per second across every connection), or as fast as it goes.
    ...(options.rate ? { overallRate: options.rate } : {}),
    requests: options.requests,
  },
  (error, result) => {
    clearTimeout(watchdog);
    if (error) {
      process.stderr.write(`${error.stack ?? error}\n`);
      process.exit(1);
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const statuses = {};
    for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0;
    process.stdout.write(
      `${JSON.stringify({
        requests: count,
        seconds,
        statuses,
        errors: result.errors + result.timeouts,
        clientCpuMs: (cpu.user + cpu.system) / 1000,
        latenciesMs: Array.from(latencies.subarray(0, count), (l) => Math.round(l * 1000) / 1000),
      })}\n`,
    );
  },
);
instance.on("response", (_client, _status, _bytes, responseTimeMs) => {
  if (count === latencies.length) {
    const grown = new Float64Array(latencies.length * 2);
    grown.set(latencies);
    latencies = grown;
  }
  latencies[count++] = responseTimeMs;
});
// autocannon stops by itself after `seconds`; this stops it if it does not.
const watchdog = setTimeout(() => instance.stop(), (options.seconds + 15) * 1000);
