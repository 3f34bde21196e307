/**
 * The load generator, run as its own process: keeps N EmitSessionStart calls
 * in flight against TARGET for DURATION ms, each with a fresh event, and
 * prints {count, errors, seconds, p50Ms, p99Ms} as JSON.
 *
 *   node load.js TARGET CONCURRENCY DURATION_MS
 */
import { randomUUID } from "node:crypto";
import { credentials, type ServiceError } from "@grpc/grpc-js";
import { bridges } from "../../src/bridge/index.js";
import { SessionStartEvent } from "../../src/session/models.js";
import { SessionServiceClient, type EmitSessionStartResponse } from "../../gen/oneiric/session/v1/session_service.js";

const [target, concurrencyText, durationText] = process.argv.slice(2);
const concurrency = Number(concurrencyText);
const durationMs = Number(durationText);
const client = new SessionServiceClient(target!, credentials.createInsecure());
const template = bridges.SessionStartEvent.fromJson(
  SessionStartEvent.create({ componentName: "bench", shellType: "BenchShell", metadata: { run: "bench", n: 1 } }),
);

const latencies: number[] = [];
let errors = 0;

function once(): Promise<void> {
  const event = { ...template, eventId: randomUUID() };
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    client.emitSessionStart({ event }, (error: ServiceError | null, _r: EmitSessionStartResponse) => {
      if (error) errors++;
      else latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      resolve();
    });
  });
}

await once(); // connect
latencies.length = 0;
const start = performance.now();
const deadline = start + durationMs;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) await once();
  }),
);
const seconds = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
console.log(JSON.stringify({ count: latencies.length, errors, seconds, p50Ms: pct(0.5), p99Ms: pct(0.99) }));
client.close();
