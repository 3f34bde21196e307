/**
 * The disk on its own: a process appending BYTES-byte records to a fresh
 * file opened O_DSYNC, as the event log does, one every INTERVAL µs (0:
 * back to back) for DURATION ms. Prints {count, p50Us, p99Us}.
 *
 *   node durable-append.js DIR BYTES INTERVAL_US DURATION_MS
 *
 * The collector bench runs it back to back: a lower bound of a durable
 * write's time. The pace matters on this kind of machine: a virtual disk
 * answers a write that follows another at once in about 80 µs, and one that
 * comes after 1.5 ms of quiet in about 180 µs (BENCHMARKS.md, "Collector";
 * `node durable-append.js /tmp 290 1500 3000` shows it). Waiting is a sleep
 * (Atomics.wait, a futex with a timeout), not a busy loop, so the process
 * leaves the CPU to the others between writes.
 */
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import path from "node:path";

const [dir, bytesText, intervalText, durationText] = process.argv.slice(2);
const bytes = Number(bytesText);
const intervalUs = Number(intervalText);
const durationMs = Number(durationText);
if (!dir || !(bytes > 0) || !(intervalUs >= 0) || !(durationMs > 0))
  throw new Error("usage: durable-append.js DIR BYTES INTERVAL_US DURATION_MS");

const scratch = mkdtempSync(path.join(dir, "durable-append-"));
const fd = openSync(
  path.join(scratch, "log"),
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC,
);
const record = Buffer.alloc(bytes, 0x2a);
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const latencies: number[] = [];
const deadline = performance.now() + durationMs;
try {
  while (performance.now() < deadline) {
    const started = performance.now();
    writeSync(fd, record);
    const tookUs = (performance.now() - started) * 1000;
    latencies.push(tookUs);
    const restMs = (intervalUs - tookUs) / 1000;
    if (restMs > 0) Atomics.wait(sleeper, 0, 0, restMs);
  }
} finally {
  closeSync(fd);
  rmSync(scratch, { recursive: true, force: true });
}
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN;
console.log(JSON.stringify({ count: latencies.length, p50Us: pct(0.5), p99Us: pct(0.99) }));
