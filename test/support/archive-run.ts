/** Helpers of the archive tests: the CLI as a child process, liveness guards, segments of a given shape. */
import { spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, writeSync } from "node:fs";
import { encodeFrame, encodeSegmentHeader } from "../../src/store/frame.js";
import { logEntryBytes, sampleEvents } from "./archive-log.js";
import { cliBin } from "./repo.js";
import { validVrp } from "./fixtures.js";
export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Run the CLI; `closeStdoutAfterFirstChunk` behaves like `| head -c N`;
 * `under` is a command that runs it (strace and its flags, to watch or fail system calls).
 */
export function cli(
  args: string[],
  options: { nodeArgs?: string[]; closeStdoutAfterFirstChunk?: boolean; timeoutMs?: number; under?: string[] } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const command = [...(options.under ?? []), process.execPath, ...(options.nodeArgs ?? []), cliBin, ...args];
    const child = spawn(command[0]!, command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? 30_000);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      if (options.closeStdoutAfterFirstChunk) child.stdout.destroy();
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Settles with the promise's outcome, or "pending" after `ms` (a job that hangs forever). */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ value?: T; error?: unknown; pending?: true }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ pending: true }>(
    (resolve) => (timer = setTimeout(() => resolve({ pending: true }), ms)),
  );
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Varied events (distinct ids and times), so that gzip output is not tiny. A segment: its header, then frames. */
export function bigSegment(file: string, events: number): void {
  const fd = openSync(file, "w");
  writeSync(fd, encodeSegmentHeader(1n));
  for (const [i, e] of sampleEvents(events).entries()) writeSync(fd, encodeFrame(BigInt(i + 1), logEntryBytes(e)));
  closeSync(fd);
}

export const partials = (dir: string) => readdirSync(dir).filter((n) => n.includes(".partial-"));

export const HANG = "hang" as const;
export async function settles<T>(p: Promise<T>, ms = 20_000): Promise<T | typeof HANG> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<typeof HANG>((resolve) => (timer = setTimeout(() => resolve(HANG), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A LogEntry payload of exactly `size` bytes (a VRP event with a long detail). */
export function payloadOfSize(size: number): Uint8Array {
  const make = (k: number, p: number) =>
    logEntryBytes({
      kind: "vrp_received",
      json: { ...validVrp(), details: { path: "x".repeat(k) } },
      producerId: "p".repeat(p),
      producerSequence: 1n,
      receivedAt: "2026-02-06T12:00:00Z",
    });
  const base = make(0, 1).length;
  for (let k = Math.max(0, size - base - 200); k <= size - base; k++)
    for (let p = 1; p < 20; p++) if (make(k, p).length === size) return make(k, p);
  throw new Error(`no payload of ${size} bytes`);
}
