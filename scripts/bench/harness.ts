/**
 * A small benchmark harness for a shared, noisy machine: variants run
 * interleaved in rounds (so they share the noise), each round long enough to
 * be measured, and results are medians over rounds, with ratios to a baseline
 * measured in the same run.
 */
import os from "node:os";

export interface Variant {
  readonly name: string;
  /** One operation (one event). */
  readonly run: () => unknown;
}

export interface Result {
  readonly name: string;
  readonly opsPerSec: number; // median over rounds
  readonly spread: [number, number]; // min..max over rounds
}

export function measure(variants: readonly Variant[], { rounds = 15, roundMs = 150 } = {}): Result[] {
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  // Warm up: let the JIT settle on every variant before counting.
  for (const v of variants) timeFor(v.run, 300);
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) samples.get(v.name)!.push(timeFor(v.run, roundMs));
  }
  return variants.map((v) => {
    const s = samples.get(v.name)!.sort((a, b) => a - b);
    return { name: v.name, opsPerSec: s[Math.floor(s.length / 2)]!, spread: [s[0]!, s[s.length - 1]!] };
  });
}

/** Operations per second of `fn`, run in batches for about `ms` milliseconds. */
function timeFor(fn: () => unknown, ms: number): number {
  let ops = 0;
  let sink: unknown;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 64; i++) sink = fn();
    ops += 64;
    now = process.hrtime.bigint();
  }
  if (sink === Symbol.for("never")) console.log(sink); // keep the result alive
  return ops / (Number(now - start) / 1e9);
}

export function machine(): string {
  const cpus = os.cpus();
  return [
    `- CPU: ${cpus[0]?.model ?? "unknown"} (${cpus.length} cores visible to Node)`,
    `- Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os.type()} ${os.release()} ${os.machine()}`,
    `- Node.js: ${process.version}`,
    `- Date: ${new Date().toISOString().slice(0, 10)}`,
  ].join("\n");
}

export const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
