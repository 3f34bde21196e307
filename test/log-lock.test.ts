/**
 * One writer per directory, across processes and pid namespaces: the lock of
 * src/store/lock.ts. Other holders are real processes (test/fixtures/lock-holder.ts,
 * the collector itself); pid reuse is real too: a collector that runs as
 * PID 1 under `unshare --pid --fork --mount-proc`, SIGKILLed and started again
 * as PID 1.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, readlinkSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { EmitSessionStartResponse, GetSessionResponse } from "../gen/oneiric/session/v1/session_service.js";
import { bridges } from "../src/bridge/index.js";
import { SessionEventEmitter } from "../src/client/emitter.js";
import { SessionStartEvent } from "../src/session/models.js";
import { acquireLock, releaseLock } from "../src/store/lock.js";
import { LogLockedError, SegmentLog } from "../src/store/segment-log.js";
import { call, clientFor, startTestServer } from "./support/collector.js";
import { repoRoot, tempDir } from "./support/repo.js";
import { PID1, pid1Of, startServeProcess, type ServeProcess } from "./support/serve-process.js";

const holderScript = path.join(repoRoot, "dist/test/fixtures/lock-holder.js");

interface LockRecord {
  pid: number;
  start?: number;
  boot?: string;
  pidns?: string;
  token?: string;
  beacon?: string;
}

const readLock = (dir: string) => JSON.parse(readFileSync(path.join(dir, "LOCK"), "utf8")) as LockRecord;
const lockFiles = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.startsWith("LOCK"))
    .sort();
const startOf = (pid: number | "self") => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
};
const me = () => ({
  start: startOf("self"),
  boot: readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim(),
  pidns: readlinkSync("/proc/self/ns/pid"),
});
const token = () => Array.from({ length: 32 }, () => "0123456789abcdef"[Math.floor(Math.random() * 16)]).join("");

/** Open must fail with LogLockedError; its message. */
async function refusal(dir: string): Promise<string> {
  try {
    const log = await SegmentLog.open({ dir });
    await log.close();
  } catch (e) {
    assert.instance(e, LogLockedError);
    return (e as Error).message;
  }
  throw new Error(`${dir} opened, but it should have been refused`);
}

/** Open must succeed: the lock is then this process's. */
async function opens(dir: string): Promise<void> {
  const log = await SegmentLog.open({ dir });
  const lock = readLock(dir);
  assert.is(lock.pid, process.pid);
  assert.is(lock.start, startOf("self"));
  await log.close();
  assert.equal(lockFiles(dir), [], "nothing of the lock is left after close");
}

/** Every child a test starts; whatever a failed test leaves running is killed after it. */
const children = new Set<ChildProcess>();
test.after.each(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
});

/** A lock-holder child; `next()` is its next JSON line. */
function holder(
  dir: string,
  waitGo = false,
): { child: ChildProcess; next: () => Promise<Record<string, unknown>>; exited: Promise<unknown> } {
  const child = spawn(process.execPath, [holderScript, dir, ...(waitGo ? ["--wait-go"] : [])], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  children.add(child);
  const exited = new Promise((r) => child.once("exit", r));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    child,
    exited,
    next: async () => {
      const line = await lines.next();
      if (line.done) throw new Error("the lock holder ended without a word");
      return JSON.parse(line.value) as Record<string, unknown>;
    },
  };
}

test("the same process twice is refused; after close it opens again, and nothing is left", async () => {
  const dir = tempDir("lock-same-");
  const log = await SegmentLog.open({ dir });
  assert.match(await refusal(dir), `${dir} is already open in this process`);
  const file = path.join(dir, "LOCK");
  try {
    await acquireLock(dir);
    assert.unreachable("acquired twice");
  } catch (e) {
    assert.instance(e, LogLockedError);
  }
  // A worker thread has a registry of its own: its refusal comes from the socket, and says whose.
  const worker = new Worker(
    `const { parentPort, workerData } = require("node:worker_threads");
     import(${JSON.stringify(pathToFileURL(path.join(repoRoot, "dist/src/store/lock.js")).href)})
       .then((lock) => lock.acquireLock(workerData))
       .then(() => parentPort.postMessage("acquired"), (e) => parentPort.postMessage(e.message));`,
    { eval: true, workerData: dir },
  );
  const [said] = (await once(worker, "message")) as [string];
  await worker.terminate();
  assert.match(said, `${dir} is in use by process ${process.pid}`);
  assert.match(said, "it is this process: another worker thread");
  const lock = readLock(dir);
  assert.equal(Object.keys(lock).sort(), ["beacon", "boot", "host", "pid", "pidns", "since", "start", "token"]);
  assert.equal(lockFiles(dir), ["LOCK", lock.beacon!], "the refused attempt left no claim and no socket behind");
  await log.close();
  assert.not.ok(existsSync(file));
  await opens(dir);
  await releaseLock(file); // not held: nothing happens
});

test("a live other process is refused: by its socket, and by its pid and start time once the socket is gone", async () => {
  const dir = tempDir("lock-live-");
  const other = holder(dir);
  assert.equal(await other.next(), { held: true, pid: other.child.pid });
  const message = await refusal(dir);
  assert.match(message, `${dir} is in use by process ${other.child.pid}`);
  assert.match(message, "answers on its socket");
  assert.match(message, `delete ${path.join(dir, "LOCK")}`);
  // Someone deletes the socket: the pid and its start time still say alive.
  unlinkSync(path.join(dir, readLock(dir).beacon!));
  assert.match(await refusal(dir), `in use by process ${other.child.pid}`);
  assert.match(await refusal(dir), `process ${other.child.pid} is running`);
  other.child.stdin!.end(); // it releases and exits
  await other.exited;
  await opens(dir);
});

test("a stale lock from a killed process is taken over, and the dead holder's files go with it", async () => {
  for (const withSocket of [true, false]) {
    const dir = tempDir("lock-stale-");
    const other = holder(dir);
    assert.equal(await other.next(), { held: true, pid: other.child.pid });
    const dead = readLock(dir);
    other.child.kill("SIGKILL");
    await other.exited;
    assert.equal(lockFiles(dir), ["LOCK", dead.beacon!].sort(), "SIGKILL leaves the lock and its socket");
    if (!withSocket) unlinkSync(path.join(dir, dead.beacon!)); // then: no process has that pid
    const log = await SegmentLog.open({ dir });
    assert.is.not(readLock(dir).token, dead.token);
    assert.equal(lockFiles(dir), ["LOCK", readLock(dir).beacon!].sort(), "the dead holder's socket is gone");
    await log.close();
  }
});

test("pid reuse and other stale holders are told from live ones by what the lock records", async () => {
  const self = me();
  const live = holder(tempDir("lock-other-"));
  assert.equal((await live.next()).held, true);
  const livePid = live.child.pid!;
  const liveStart = startOf(livePid);
  const cases: { name: string; content: string; taken: boolean; says?: string }[] = [
    {
      name: "this pid, an earlier start (a restarted PID 1)",
      content: JSON.stringify({
        pid: process.pid,
        start: self.start - 1,
        boot: self.boot,
        pidns: self.pidns,
        token: token(),
      }),
      taken: true,
    },
    {
      name: "a live pid, another start (the pid was reused)",
      content: JSON.stringify({
        pid: livePid,
        start: liveStart + 1,
        boot: self.boot,
        pidns: self.pidns,
        token: token(),
      }),
      taken: true,
    },
    {
      name: "a live pid, its start, another boot",
      content: JSON.stringify({
        pid: livePid,
        start: liveStart,
        boot: "00000000-0000-0000-0000-000000000000",
        pidns: self.pidns,
        token: token(),
      }),
      taken: true,
    },
    { name: "an older version's lock with this pid", content: String(process.pid), taken: true },
    {
      name: "a live pid and its start",
      content: JSON.stringify({ pid: livePid, start: liveStart, boot: self.boot, pidns: self.pidns, token: token() }),
      taken: false,
      says: `in use by process ${livePid}`,
    },
    {
      name: "an older version's lock with a live pid",
      content: String(livePid),
      taken: false,
      says: "no start time to check",
    },
    {
      name: "another pid namespace and no socket",
      content: JSON.stringify({ pid: 1, start: 5, boot: self.boot, pidns: "pid:[1]", host: "box", token: token() }),
      taken: false,
      says: "is locked by process 1 on box, which cannot be checked from here: it ran in another pid namespace (pid:[1]",
    },
    { name: "unreadable", content: "{not json", taken: false, says: "cannot be read" },
  ];
  try {
    for (const c of cases) {
      const dir = tempDir("lock-case-");
      writeFileSync(path.join(dir, "LOCK"), c.content);
      if (c.taken) {
        await opens(dir).catch((e: Error) => assert.unreachable(`${c.name}: ${e.message}`));
      } else {
        const message = await refusal(dir);
        assert.ok(message.includes(c.says!), `${c.name}: ${message}`);
        assert.match(message, `delete ${path.join(dir, "LOCK")}`);
        assert.is(readFileSync(path.join(dir, "LOCK"), "utf8"), c.content, `${c.name}: the lock is left as it was`);
      }
    }
  } finally {
    live.child.stdin!.end();
    await live.exited;
  }
});

test("processes starting at once on a stale lock (or none): exactly one wins, every other is refused", async () => {
  const contenders = 8;
  for (let round = 0; round < 6; round++) {
    const dir = tempDir("lock-race-");
    if (round % 2 === 0) {
      // The lock of a holder that was killed: its socket is there, nobody listens.
      const dead = holder(dir);
      await dead.next();
      dead.child.kill("SIGKILL");
      await dead.exited;
    }
    const all = Array.from({ length: contenders }, () => holder(dir, true));
    for (const h of all) assert.equal(await h.next(), { ready: true });
    for (const h of all) h.child.stdin!.write("go\n");
    const results = await Promise.all(all.map((h) => h.next()));
    const winners = results.filter((r) => r.held === true);
    assert.is(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`);
    const winner = winners[0]!.pid as number;
    assert.is(readLock(dir).pid, winner);
    for (const r of results.filter((r) => r.held !== true)) {
      assert.is(r.name, "LogLockedError");
      assert.match(r.message as string, `in use by process ${winner}`);
    }
    for (const h of all) h.child.stdin!.end();
    await Promise.all(all.map((h) => h.exited));
    assert.equal(lockFiles(dir), [], `round ${round}: the winner released, and nobody left a claim or socket`);
  }
});

async function serveAsPid1(dataDir: string): Promise<ServeProcess> {
  const serve = await startServeProcess(["--data-dir", dataDir], PID1);
  children.add(serve.child);
  return serve;
}

function emitOne(port: number): Promise<string> {
  const client = clientFor(`127.0.0.1:${port}`);
  const event = bridges.SessionStartEvent.fromJson(
    SessionStartEvent.create({ componentName: "pid1", shellType: "Shell" }),
  );
  return call<unknown, EmitSessionStartResponse>(client, "emitSessionStart", { event }).then(
    (r) => (client.close(), r.sessionId),
    (e: unknown) => (client.close(), Promise.reject(e)),
  );
}

test("PID 1 of a pid namespace, SIGKILLed and started again as PID 1: the restart takes the lock over and serves", async () => {
  const dataDir = tempDir("lock-pid1-");
  const first = await serveAsPid1(dataDir);
  const stale = readLock(dataDir);
  assert.is(stale.pid, 1, "the collector runs as PID 1");
  assert.is.not(stale.pidns, me().pidns, "in a pid namespace of its own");
  const ids = [await emitOne(first.port), await emitOne(first.port)];
  process.kill(pid1Of(first), "SIGKILL");
  await first.exited;
  assert.equal(readLock(dataDir), stale, "SIGKILL leaves the lock behind");

  const second = await serveAsPid1(dataDir);
  try {
    const taken = readLock(dataDir);
    assert.is(taken.pid, 1, "PID 1 again: the same pid as the lock it found");
    // (Its namespace may have the dead one's number: the kernel reuses them.)
    assert.is.not(taken.token, stale.token);
    assert.not.ok(existsSync(path.join(dataDir, stale.beacon!)), "the dead holder's socket is removed");
    const client = clientFor(`127.0.0.1:${second.port}`);
    for (const sessionId of ids)
      assert.is(
        (await call<unknown, GetSessionResponse>(client, "getSession", { sessionId })).session!.sessionId,
        sessionId,
      );
    client.close();
    assert.match(await emitOne(second.port), /^sess_/);
  } finally {
    process.kill(pid1Of(second), "SIGTERM");
  }
  assert.equal(await second.exited, { code: 0, signal: null }, second.log.join("\n"));
  assert.equal(lockFiles(dataDir), [], "a clean stop releases the lock");
});

test("two containers on one volume: a second PID 1 is refused while the first lives, by its socket, and without it too", async () => {
  const dataDir = tempDir("lock-pid1-twice-");
  const first = await serveAsPid1(dataDir);
  const held = readLock(dataDir);
  const refusedAs = async (why: string): Promise<string> => {
    const second = await serveAsPid1(dataDir).catch((e: Error) => e);
    if (!(second instanceof Error)) {
      process.kill(pid1Of(second), "SIGKILL");
      assert.unreachable("a second collector started on a live one's directory");
      throw new Error("unreachable");
    }
    assert.match(second.message, "serve exited before listening (code 1");
    assert.match(second.message, `${dataDir} is ${why}`);
    assert.match(second.message, `delete ${path.join(dataDir, "LOCK")}`);
    return second.message;
  };
  assert.match(await refusedAs(`in use by process 1 on`), "it answers on its socket");
  // Without the socket, the pid cannot be checked from another namespace: refused, not taken.
  unlinkSync(path.join(dataDir, held.beacon!));
  assert.match(
    await refusedAs(`locked by process 1 on`),
    "which cannot be checked from here: it ran in another pid namespace",
  );
  assert.equal(readLock(dataDir), held, "the live one's lock is untouched");
  assert.match(await emitOne(first.port), /^sess_/, "and it still serves");
  process.kill(pid1Of(first), "SIGTERM");
  assert.equal(await first.exited, { code: 0, signal: null }, first.log.join("\n"));
  assert.equal(lockFiles(dataDir), []);
  const next = await serveAsPid1(dataDir); // released: the next one starts
  process.kill(pid1Of(next), "SIGTERM");
  assert.equal(await next.exited, { code: 0, signal: null });
});

test("a stale spool lock with this process's own pid does not block delivery", async () => {
  const self = me();
  const stale = [
    String(process.pid),
    JSON.stringify({ pid: process.pid, start: self.start - 1, boot: self.boot, pidns: self.pidns, token: token() }),
  ];
  const server = await startTestServer();
  try {
    for (const content of stale) {
      const spoolDir = tempDir("lock-spool-");
      const down = new SessionEventEmitter({
        target: "127.0.0.1:1",
        componentName: "spool",
        spoolDir,
        retry: { maxAttempts: 1 },
        spoolRetryMs: 3_600_000,
      });
      const placeholder = (await down.emitSessionStart({ shellType: "Shell" }))!;
      assert.match(placeholder, /^pending_/);
      await down.close();
      // What a host process with this pid left when it was killed (a container's PID 1 before this one).
      writeFileSync(path.join(spoolDir, "log", "LOCK"), content);

      const up = new SessionEventEmitter({
        target: server.target,
        componentName: "spool",
        spoolDir,
        spoolRetryMs: 3_600_000,
      });
      assert.is(await up.flush(), 1);
      const sessionId = await up.resolveSessionId(placeholder);
      assert.match(sessionId, /^sess_/);
      assert.is(server.collector.getSession(sessionId).status, "open");
      assert.match((await up.emitSessionStart({ shellType: "Shell" }))!, /^sess_/);
      await up.close();
    }
  } finally {
    await server.shutdown(1000);
  }
});

test.run();
