/**
 * A small benchmark harness for a shared, noisy machine: variants run
 * interleaved in short rounds (so neighbours share the noise), results are
 * medians over rounds, and ratios are taken per round against a baseline
 * measured in the same round, then the median of those is reported.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import os from "node:os";

/** The processes the bench started: stopped when it exits, however it exits (a pipe closed on its output, say). */
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** `args` (a script and its arguments, perhaps after Node flags) in a Node process of its own, stopped with the bench. */
export function spawnNode(args: readonly string[], stdio: StdioOptions): ChildProcess {
  const child = spawn(process.execPath, args, { stdio });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/**
 * Run `args` (a script and its arguments, perhaps after Node flags) in a
 * Node process of its own and resolve with the JSON it prints; rejects,
 * naming `name`, if it exits with anything but 0. Its stderr is ours.
 */
export function runForJson<T>(name: string, args: readonly string[]): Promise<T> {
  const child = spawnNode(args, ["ignore", "pipe", "inherit"]);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`${name} exited ${code}`)),
    );
  });
}

export interface Variant {
  readonly name: string;
  /** One operation (one event). */
  readonly run: () => unknown;
}

export interface Result {
  readonly name: string;
  /** Median operations per second over rounds. */
  readonly opsPerSec: number;
  /** Median over rounds of (baseline ops/s ÷ this variant's ops/s): its cost in baselines. */
  readonly costRatio: number;
}

/** Measure variants; the first one is the baseline. */
export function measure(variants: readonly Variant[], { rounds = 41, roundMs = 60 } = {}): Result[] {
  const samples = variants.map(() => [] as number[]);
  for (const v of variants) timeFor(v.run, 300); // warm-up: let the JIT settle
  for (let r = 0; r < rounds; r++) {
    for (const [i, v] of variants.entries()) samples[i]!.push(timeFor(v.run, roundMs));
  }
  const base = samples[0]!;
  return variants.map((v, i) => ({
    name: v.name,
    opsPerSec: median(samples[i]!),
    costRatio: median(samples[i]!.map((ops, r) => base[r]! / ops)),
  }));
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Operations per second of `fn`, run in batches for about `ms` milliseconds. */
export function timeFor(fn: () => unknown, ms: number): number {
  let ops = 0;
  let sink: unknown;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 32; i++) sink = fn();
    ops += 32;
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
