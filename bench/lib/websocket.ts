// What relaying a WebSocket costs per message (issue 9): the gateway holds both ends of every
// socket (src/proxy/streams.ts, so it can close it when the key is revoked or the token expires),
// where the floors hand the origin's socket through. N sockets are opened to each target's
// `/v1/chat/ws` (the example origin's echo), then every socket sends M messages one after another,
// each waiting for its echo; all sockets run at once. Per target: messages a second, the round
// trip's p50/p99, and workerd's CPU time per message (the message phase only: opening and closing
// are not counted). Targets are interleaved round by round, like the HTTP scenarios.
//
// The client is this process (Node's WebSocket, which may send headers such as `x-api-key`); it is
// the same for every target, so the differences are workerd's.
import { type Cluster, COMPLIANT, FLOOR, GATEWAY } from "./cluster";
import { processCpuMs } from "./proc";
import { markdownTable, median, quantile } from "./stats";

export interface WebSocketBenchOptions {
  /** Sockets open at once per target. */
  readonly sockets: number;
  /** Messages each socket sends (each waits for its echo). */
  readonly messages: number;
  readonly rounds: number;
  /** A key allowed to open the gateway's `/v1/chat/ws` (`chat:write`). */
  readonly apiKey: string;
}

/** One target over every round. */
export interface WebSocketTargetReport {
  readonly target: string;
  readonly worker: string;
  readonly sockets: number;
  readonly messages: number;
  /** Median over rounds. */
  readonly messagesPerSec: number;
  /** Round trip of one message (send → echo), over every message of every round. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Median over rounds: workerd CPU (every worker: the target and the origin) per message round trip. */
  readonly workerdCpuUsPerMessage: number;
  /** Messages whose echo was not what was sent, and sockets that failed to open or closed early. */
  readonly errors: number;
}

export interface WebSocketReport {
  readonly sockets: number;
  readonly messages: number;
  readonly rounds: number;
  readonly targets: readonly WebSocketTargetReport[];
}

const TARGETS = [
  { target: "gateway (relay)", worker: GATEWAY },
  { target: "compliant forwarder (hands through)", worker: COMPLIANT },
  { target: "passthrough (hands through)", worker: FLOOR },
] as const;

/** One round against one target. */
interface RoundResult {
  readonly rttMs: number[];
  readonly seconds: number;
  readonly cpuMs: number;
  readonly errors: number;
}

/** Node's WebSocket (undici), as used here: it takes headers, and handlers are swapped per phase. */
interface ClientSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onMessage?: (data: unknown) => void;
  onClose?: () => void;
}

function open(url: string, headers: Record<string, string>): Promise<ClientSocket> {
  return new Promise((resolve, reject) => {
    type NodeWebSocket = {
      send(data: string): void;
      close(code?: number, reason?: string): void;
      addEventListener(type: string, listener: (event: { data?: unknown }) => void): void;
    };
    const ws = new (globalThis as unknown as { WebSocket: new (url: string, init: { headers: Record<string, string> }) => NodeWebSocket }).WebSocket(url, { headers });
    const socket: ClientSocket = { send: (data) => ws.send(data), close: (code, reason) => ws.close(code, reason) };
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`${url}: not open after 10 s`));
    }, 10_000);
    ws.addEventListener("open", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    ws.addEventListener("error", () => {
      clearTimeout(timer);
      reject(new Error(`${url}: the WebSocket did not open`));
    });
    ws.addEventListener("message", (event) => socket.onMessage?.(event.data));
    ws.addEventListener("close", () => socket.onClose?.());
  });
}

/** Send `count` messages one after another on `ws`, each after the previous echo; the round trips. */
function pingPong(ws: ClientSocket, count: number, socket: number): Promise<{ rtt: number[]; errors: number }> {
  return new Promise((resolve) => {
    const rtt: number[] = [];
    let errors = 0;
    let i = 0;
    let sentAt = 0;
    let expected = "";
    const next = () => {
      if (i === count) {
        ws.onMessage = undefined;
        ws.onClose = undefined;
        resolve({ rtt, errors });
        return;
      }
      const text = `m${socket}.${i++}`;
      expected = `chat echo: ${text}`;
      sentAt = performance.now();
      ws.send(text);
    };
    ws.onMessage = (data) => {
      rtt.push(performance.now() - sentAt);
      if (data !== expected) errors++;
      next();
    };
    ws.onClose = () => {
      errors += count - rtt.length;
      resolve({ rtt, errors });
    };
    next();
  });
}

async function round(url: string, headers: Record<string, string>, options: WebSocketBenchOptions, workerdPid: number | undefined): Promise<RoundResult> {
  const sockets = await Promise.all(Array.from({ length: options.sockets }, () => open(url, headers)));
  // One message each before measuring: the first message on a socket is not the steady state.
  await Promise.all(sockets.map((ws, s) => pingPong(ws, 1, s)));
  const cpuBefore = workerdPid ? processCpuMs(workerdPid) : undefined;
  const started = performance.now();
  const results = await Promise.all(sockets.map((ws, s) => pingPong(ws, options.messages, s)));
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = workerdPid ? processCpuMs(workerdPid) : undefined;
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.onClose = () => resolve();
          ws.close(1000, "bench done");
          setTimeout(resolve, 2_000);
        }),
    ),
  );
  return {
    rttMs: results.flatMap((r) => r.rtt),
    seconds,
    cpuMs: cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : NaN,
    errors: results.reduce((n, r) => n + r.errors, 0),
  };
}

/** Run the WebSocket relay bench against the gateway and both floors. */
export async function benchWebSockets(cluster: Cluster, options: WebSocketBenchOptions): Promise<WebSocketReport> {
  const perTarget = new Map<string, RoundResult[]>(TARGETS.map((t) => [t.worker, []]));
  const headersFor = (worker: string): Record<string, string> => (worker === GATEWAY ? { "x-api-key": options.apiKey } : {});
  const urlFor = (worker: string) => `${cluster.urls.get(worker)!.replace(/^http/, "ws")}/v1/chat/ws`;
  // A warm-up round each (isolates, JIT), not counted.
  for (const t of TARGETS) await round(urlFor(t.worker), headersFor(t.worker), { ...options, messages: Math.min(options.messages, 50) }, undefined);
  for (let r = 0; r < options.rounds; r++) {
    const order = TARGETS.map((_, i) => TARGETS[(i + r) % TARGETS.length]!);
    for (const t of order) perTarget.get(t.worker)!.push(await round(urlFor(t.worker), headersFor(t.worker), options, cluster.workerdPid));
  }
  const targets = TARGETS.map((t) => {
    const rounds = perTarget.get(t.worker)!;
    const rtt = rounds.flatMap((r) => r.rttMs);
    const messagesPerRound = options.sockets * options.messages;
    return {
      target: t.target,
      worker: t.worker,
      sockets: options.sockets,
      messages: options.messages,
      messagesPerSec: median(rounds.map((r) => messagesPerRound / r.seconds)),
      p50Ms: quantile(rtt, 0.5),
      p99Ms: quantile(rtt, 0.99),
      workerdCpuUsPerMessage: median(rounds.map((r) => (r.cpuMs * 1000) / messagesPerRound)),
      errors: rounds.reduce((n, r) => n + r.errors, 0),
    };
  });
  return { sockets: options.sockets, messages: options.messages, rounds: options.rounds, targets };
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const signed = (n: number, digits: number) => (n >= 0 ? `+${fmt(n, digits)}` : fmt(n, digits));

/** The report as a table, with the gateway's cost per message over each floor. */
export function webSocketTable(report: WebSocketReport): string {
  const [gateway, ...floors] = report.targets;
  const rows = report.targets.map((t) => [
    t.target,
    fmt(t.messagesPerSec),
    fmt(t.p50Ms, 3),
    fmt(t.p99Ms, 3),
    fmt(t.workerdCpuUsPerMessage),
    String(t.errors),
  ]);
  const table = markdownTable(["WebSocket echo, per message", "messages/s", "RTT p50 ms", "RTT p99 ms", "workerd CPU µs/msg", "errors"], rows);
  const added = floors
    .map(
      (f) =>
        `over ${f.target.replace(/ \(.*\)$/, "")}: RTT ${signed(gateway!.p50Ms - f.p50Ms, 3)} ms p50 / ${signed(gateway!.p99Ms - f.p99Ms, 3)} ms p99, ` +
        `CPU ${signed(gateway!.workerdCpuUsPerMessage - f.workerdCpuUsPerMessage, 0)} µs per message, messages/s ×${fmt(gateway!.messagesPerSec / f.messagesPerSec, 2)}`,
    )
    .join("\n");
  return `${table}\n\n${report.sockets} sockets × ${report.messages} messages each, ${report.rounds} round(s); the gateway relays, the floors hand the origin's socket through.\n${added}`;
}
