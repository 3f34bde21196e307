/**
 * A full disk under a running collector (its data directory on a small
 * tmpfs): the log's write fails, every call from then on is UNAVAILABLE, the
 * collector stops and exits 1 (so a supervisor restarts it), and every
 * session it acknowledged is in its log, read back from a copy on another disk.
 *
 * Needs `mount -t tmpfs` (root, as in CI): without it the test fails, loudly.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { status, type ServiceError } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { EmitSessionStartResponse, GetSessionResponse } from "../gen/oneiric/session/v1/session_service.js";
import { bridges } from "../src/bridge/index.js";
import { SessionStartEvent } from "../src/session/models.js";
import { STATE_DIR } from "../src/state/open-state.js";
import { SegmentLog, type DamageReport } from "../src/store/segment-log.js";
import { call, clientFor, startTestServer } from "./support/collector.js";
import { tempDir } from "./support/repo.js";
import { mountTmpfs, unmount } from "./support/tmpfs.js";
import { startServeProcess, type ServeProcess } from "./support/serve-process.js";

interface Outcome {
  /** The call was made after some earlier call had already failed. */
  readonly afterFailure: boolean;
  readonly sessionId?: string;
  readonly error?: ServiceError;
}

/** How many of these sessions a collector opened on `dataDir` has (it recovers the log and its state as a restart does). */
async function sessionsFound(dataDir: string, sessionIds: readonly string[]): Promise<number> {
  const server = await startTestServer({}, dataDir);
  const client = clientFor(server.target);
  let found = 0;
  try {
    for (const sessionId of sessionIds) {
      const got = await call<unknown, GetSessionResponse>(client, "getSession", { sessionId }).catch(() => undefined);
      if (got?.session?.sessionId === sessionId) found++;
    }
  } finally {
    client.close();
    await server.shutdown(1000);
  }
  return found;
}

test("a full disk: every later call is UNAVAILABLE, the collector exits 1, and no acknowledged session is lost", async () => {
  const root = tempDir("disk-full-");
  const mnt = path.join(root, "tmpfs");
  const dataDir = path.join(mnt, "data");
  const copy = path.join(root, "copy"); // another file system: the one tempDir is on
  mkdirSync(mnt);
  mountTmpfs(mnt, "size=3m,mode=0755");
  let serve: ServeProcess | undefined;
  const outcomes: Outcome[] = [];
  let logFailedFirst = false;
  try {
    // Small segments, so that segments are rolled as the disk fills too.
    serve = await startServeProcess(["--data-dir", dataDir, "--segment-bytes", String(256 * 1024)]);
    const client = clientFor(`127.0.0.1:${serve.port}`);
    let exited = false;
    void serve.exited.then(() => (exited = true));
    let failed = false;
    const metadata = { pad: "x".repeat(2000) }; // about 2 KiB a record: ~1,500 fill 3 MiB
    // Each worker calls until the collector has exited, then once more.
    const worker = async () => {
      for (let last = false; !last; ) {
        last = exited;
        const afterFailure = failed;
        const event = bridges.SessionStartEvent.fromJson(
          SessionStartEvent.create({ componentName: "disk-full", shellType: "Shell", metadata }),
        );
        try {
          const r = await call<unknown, EmitSessionStartResponse>(
            client,
            "emitSessionStart",
            { event },
            { deadlineMs: 30_000 },
          );
          outcomes.push({ afterFailure, sessionId: r.sessionId });
        } catch (e) {
          failed = true;
          outcomes.push({ afterFailure, error: e as ServiceError });
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    client.close();
    const exit = await serve.exited;
    assert.equal(
      exit,
      { code: 1, signal: null },
      `the collector's exit (a supervisor restarts it on non-zero):\n${serve.log.join("\n")}`,
    );
    assert.ok(
      // The cause: ENOSPC, or (a write that got part of its bytes in) the short write.
      // The log or the state store (on the same disk) may be the first to find it full;
      // LMDB reports a full disk as an I/O error (EIO) when its commit's write or sync fails.
      serve.log.some(
        (l) =>
          (l.includes("event log failed") && /ENOSPC|short write/.test(l)) ||
          (l.includes("state store failed") && /ENOSPC|No space left|Input\/output error/.test(l)),
      ),
      `the failure is logged, with its cause:\n${serve.log.join("\n")}`,
    );
    assert.not.ok(existsSync(path.join(dataDir, "LOCK")), "it stopped in order: the lock is released");
    const lines = serve.log;
    const logFailedAt = lines.findIndex((l) => l.includes("event log failed"));
    const stateFailedAt = lines.findIndex((l) => l.includes("state store failed"));
    logFailedFirst = logFailedAt !== -1 && (stateFailedAt === -1 || logFailedAt < stateFailedAt);
    cpSync(dataDir, copy, { recursive: true });
  } finally {
    if (serve && serve.child.exitCode === null && serve.child.signalCode === null) {
      serve.child.kill("SIGKILL");
      await serve.exited;
    }
    execFileSync("umount", [mnt]);
  }

  const acknowledged = outcomes.filter((o) => o.sessionId !== undefined).map((o) => o.sessionId!);
  const errors = outcomes.filter((o) => o.error).map((o) => o.error!);
  assert.ok(acknowledged.length >= 200, `${acknowledged.length} acknowledged before the disk was full`);
  assert.ok(errors.length >= 16, `${errors.length} refused`);
  assert.equal(
    errors.filter((e) => e.code !== status.UNAVAILABLE).map((e) => `${e.code}: ${e.details}`),
    [],
    "every refusal is UNAVAILABLE (retry elsewhere or later), none INTERNAL or CANCELLED",
  );
  // When the log failed, the calls waiting on it are refused with its reason. When the state store
  // (on the same disk) failed first, the log was still writing: the calls in flight may all have been
  // stored and answered before the stop, and the reason is in the collector's log line (asserted above).
  if (logFailedFirst)
    assert.ok(
      errors.some((e) => e.details.includes("the event could not be stored")),
      "the collector itself said why",
    );
  assert.is(
    outcomes.filter((o) => o.afterFailure && o.sessionId !== undefined).length,
    0,
    "nothing is acknowledged after a failure",
  );
  assert.ok(outcomes.filter((o) => o.afterFailure).length >= 16, "calls were made after the failure");

  // The copy opens as any crashed log does: at most the unfinished last write is cut.
  const damage: DamageReport[] = [];
  const log = await SegmentLog.open({ dir: copy, onDamage: (d) => damage.push(d) });
  assert.ok(damage.length <= 1, JSON.stringify(damage));
  // Only a crash tail's shapes (store/frame.ts, crashTailReason): a cut-short frame or header, zero fill.
  assert.ok(
    damage.every((d) => /cut short|zero fill/.test(d.reason)),
    JSON.stringify(damage),
  );
  const records = log.lastSequence;
  await log.close();
  assert.ok(readdirSync(copy).filter((n) => n.endsWith(".seg")).length > 1, "segments were rolled as the disk filled");

  const found = await sessionsFound(copy, acknowledged);
  assert.is(
    acknowledged.length - found,
    0,
    `${acknowledged.length} acknowledged, ${found} found (${records} records in the log; cut: ${JSON.stringify(damage)})`,
  );
});

test("a full disk under the state store alone: the collector exits 1 naming the cause, every stderr line is JSON, and a restart on the store's last durable checkpoint has every acknowledged session", async () => {
  const dataDir = tempDir("state-full-");
  const kept = tempDir("state-kept-"); // the failed store's files, while its tmpfs goes
  const stateDir = path.join(dataDir, STATE_DIR);
  mkdirSync(stateDir);
  mountTmpfs(stateDir, "size=1m,mode=0755"); // the log stays on the disk tempDir is on
  let serve: ServeProcess | undefined;
  const acknowledged: string[] = [];
  const refused: ServiceError[] = [];
  try {
    serve = await startServeProcess(["--data-dir", dataDir, "--checkpoint-records", "50"]);
    const client = clientFor(`127.0.0.1:${serve.port}`);
    let exited = false;
    void serve.exited.then(() => (exited = true));
    const metadata = { pad: "x".repeat(2000) }; // about 2 KiB a session in the store: ~500 fill 1 MiB
    const deadline = Date.now() + 60_000;
    const worker = async () => {
      while (!exited && Date.now() < deadline) {
        const event = bridges.SessionStartEvent.fromJson(
          SessionStartEvent.create({ componentName: "state-full", shellType: "Shell", metadata }),
        );
        try {
          const r = await call<unknown, EmitSessionStartResponse>(client, "emitSessionStart", { event });
          acknowledged.push(r.sessionId);
        } catch (e) {
          refused.push(e as ServiceError);
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    client.close();
    if (!exited) assert.unreachable(`the collector did not stop within 60 s of calls:\n${serve.log.join("\n")}`);
    assert.equal(await serve.exited, { code: 1, signal: null }, serve.log.join("\n"));
    assert.ok(
      serve.log.some((l) => l.includes("state store failed") && /No space left|Input\/output error/.test(l)),
      `the failure is logged, with its cause:\n${serve.log.join("\n")}`,
    );
    // lmdb-js prints a failed commit's error with console.error: it must come as a log line too.
    const notJson = serve.log.filter((l) => {
      try {
        return typeof JSON.parse(l) !== "object";
      } catch {
        return true;
      }
    });
    assert.equal(notJson, [], "every stderr line of serve is a JSON log line");
  } finally {
    if (serve && serve.child.exitCode === null && serve.child.signalCode === null) {
      serve.child.kill("SIGKILL");
      await serve.exited;
    }
    // The restart opens the store as it failed (its last durable checkpoint), on the ordinary disk.
    cpSync(stateDir, kept, { recursive: true });
    unmount(stateDir);
    cpSync(kept, stateDir, { recursive: true });
  }
  assert.ok(acknowledged.length >= 100, `${acknowledged.length} acknowledged before the store's disk was full`);
  assert.equal(
    refused.filter((e) => e.code !== status.UNAVAILABLE).map((e) => `${e.code}: ${e.details}`),
    [],
    "every refusal is UNAVAILABLE",
  );
  // Why each was refused: the collector naming its failed state store (between the failure and its
  // exit, if a call came then), or the connection to it gone after the exit. Nothing else.
  const why = (e: ServiceError) =>
    e.details.includes("the state store has failed") ||
    /No connection established|ECONNREFUSED|ECONNRESET|Connection dropped/.test(e.details);
  assert.equal(
    [...new Set(refused.filter((e) => !why(e)).map((e) => e.details))],
    [],
    "each refusal names the failed state store, or follows the exit",
  );

  try {
    assert.ok(existsSync(path.join(stateDir, "data.mdb")), "the restart opens the failed store, not an empty one");
    const found = await sessionsFound(dataDir, acknowledged);
    assert.is(acknowledged.length - found, 0, `${acknowledged.length} acknowledged, ${found} found after the restart`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(kept, { recursive: true, force: true });
  }
});

test.run();
