/**
 * For emitter fault tests: what the host was told (returned ids, errors) set
 * against what the collector stored, and a host process to kill.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import * as assert from "uvu/assert";
import type { SessionEventEmitter } from "../../src/client/emitter.js";
import type { TestServer } from "./collector.js";
import { repoRoot } from "./repo.js";

export { freePort } from "./ports.js";

/** Every start the host got an id for (real or placeholder), and whether its end was returned too. */
export class Ledger {
  readonly starts: string[] = [];
  readonly ended = new Set<string>();
  /** What the calls that did not return threw (the host was told). */
  readonly failures: Error[] = [];

  /** A start and its end; use an emitter without neverThrow, so that a call that failed is told from one that returned. */
  async pair(emitter: SessionEventEmitter, i: number): Promise<void> {
    let id: string | undefined;
    try {
      id = await emitter.emitSessionStart({ shellType: "Shell", metadata: { i } });
    } catch (e) {
      this.failures.push(e as Error);
      return;
    }
    assert.type(id, "string");
    this.starts.push(id!);
    try {
      await emitter.emitSessionEnd(id!);
      this.ended.add(id!);
    } catch (e) {
      this.failures.push(e as Error);
    }
  }

  /**
   * 0 lost, 0 duplicated: every returned start is a session of the collector
   * (placeholders resolved through `resolve`), ended if its end was returned,
   * and the collector holds no other session.
   */
  async check(server: TestServer, resolve: (id: string) => Promise<string>, extra = 0): Promise<void> {
    const real = new Set<string>();
    for (const id of this.starts) {
      const sessionId = await resolve(id);
      assert.match(sessionId, /^sess_/, `start ${id} was never delivered`);
      const view = server.collector.getSession(sessionId);
      if (this.ended.has(id)) assert.is(view.status, "ended", `the end of ${id} (${sessionId}) was never delivered`);
      real.add(sessionId);
    }
    assert.is(real.size, this.starts.length, "two returned starts became one session");
    assert.is(
      server.collector.sessionCount,
      this.starts.length + extra,
      "the collector holds sessions nobody was told about, or twice",
    );
  }
}

export const hostBin = path.join(repoRoot, "dist/test/support/emitter-host.js");

export interface HostRun {
  readonly lines: Record<string, unknown>[];
  /** Resolves once it printed {"done": true}. */
  readonly done: Promise<void>;
  readonly exited: Promise<number | null>;
  readonly pid: number;
}

/** Run test/support/emitter-host.ts (optionally behind a wrapper such as unshare). */
export function runHost(options: object, wrapper: string[] = []): HostRun {
  const argv = [...wrapper, process.execPath, hostBin, JSON.stringify(options)];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  const lines: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const done = new Promise<void>((resolve, reject) => {
    let partial = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split("\n");
      partial = parts.pop()!;
      for (const line of parts) {
        const value = JSON.parse(line) as Record<string, unknown>;
        lines.push(value);
        if (value.done) resolve();
      }
    });
    void exited.then((code) =>
      reject(new Error(`the host exited (${code}) before it was done:\n${stderr}\n${JSON.stringify(lines)}`)),
    );
  });
  done.catch(() => {});
  return { lines, done, exited, pid: child.pid! };
}

/**
 * Flush until the spool is empty: right after a collector comes back, the
 * emitter's channel may still be waiting out its reconnection backoff.
 */
export async function drainAll(emitter: SessionEventEmitter, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while ((await emitter.flush(), emitter.stats().spooledEvents > 0)) {
    if (Date.now() > deadline)
      throw new Error(`the spool still holds ${emitter.stats().spooledEvents} events after ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
