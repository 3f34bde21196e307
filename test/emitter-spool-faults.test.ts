/**
 * The emitter's spool under the faults of issue 17: a stale lock after a
 * crash of a PID 1 host, a spool that cannot be opened or written (a regular
 * file in the way, a read-only and a full file system, a garbage state),
 * and a log that lost bytes or files while its state remained. Each test
 * counts what the host was told against what the collector stored: 0 lost,
 * 0 duplicated, and every anomaly reported through onError.
 *
 * The tmpfs tests need `mount` (root, as in CI): without it they fail, loudly.
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmitError, SessionEventEmitter, SpoolError } from "../src/client/emitter.js";
import { startTestServer } from "./support/collector.js";
import { drainAll, freePort, Ledger, runHost } from "./support/emitter-ledger.js";
import { mountTmpfs } from "./support/tmpfs.js";
import { tempDir } from "./support/repo.js";
import { PID1 } from "./support/serve-process.js";

/** An emitter that reports into `errors` (and throws, so that the ledger tells a failed call from a returned one). */
function emitterFor(target: string, spoolDir: string, errors: Error[], extra: object = {}): SessionEventEmitter {
  return new SessionEventEmitter({
    target,
    componentName: "faults",
    spoolDir,
    onError: (e) => errors.push(e),
    ackWaitMs: 1000,
    deadlineMs: 1000,
    ...extra,
  });
}

const spoolErrors = (errors: readonly Error[], code?: string) =>
  errors.filter((e): e is SpoolError => e instanceof SpoolError && (code === undefined || e.code === code));

function lastSegment(logDir: string): string {
  const segments = readdirSync(logDir)
    .filter((n) => n.endsWith(".seg"))
    .sort();
  return path.join(logDir, segments.at(-1)!);
}

function cutBytes(file: string, n: number): void {
  truncateSync(file, statSync(file).size - n);
}

/** Spool `pairs` pairs with the collector down (port unused), and close. */
async function spoolWhileDown(
  port: number,
  spoolDir: string,
  pairs: number,
  ledger: Ledger,
  errors: Error[],
): Promise<void> {
  const down = emitterFor(`127.0.0.1:${port}`, spoolDir, errors, { breaker: { failureThreshold: 1, openMs: 60_000 } });
  for (let i = 0; i < pairs; i++) await ledger.pair(down, i);
  await down.close();
}

test("pid reuse: a host that was PID 1, killed, leaves a lock that the next PID 1 takes over", async () => {
  const port = await freePort();
  const spoolDir = tempDir("spool-pid1-");
  const first = runHost({ target: `127.0.0.1:${port}`, spoolDir, pairs: 3, hold: true }, PID1);
  await first.done;
  const children = readFileSync(`/proc/${first.pid}/task/${first.pid}/children`, "utf8").trim().split(/\s+/);
  process.kill(Number(children[0]), "SIGKILL");
  await first.exited;
  assert.ok(existsSync(path.join(spoolDir, "log", "LOCK")), "the killed host's lock is still there");
  const placeholders = first.lines.filter((l) => "start" in l).map((l) => l.start as string);
  assert.is(placeholders.length, 3);

  const server = await startTestServer({ address: `127.0.0.1:${port}` });
  try {
    const second = runHost({ target: server.target, spoolDir, pairs: 3, flush: true, resolve: placeholders }, PID1);
    assert.is(await second.exited, 0);
    const errors = second.lines.filter((l) => "error" in l && /spool|lock/i.test(String(l.error)));
    assert.equal(errors, [], "no spool error: the stale lock is taken over");
    assert.equal(
      second.lines.find((l) => "flushed" in l),
      { flushed: 6 },
    );
    const resolved = second.lines.find((l) => "resolved" in l)!.resolved as Record<string, string>;
    const ledger = new Ledger();
    for (const l of [...first.lines, ...second.lines]) {
      if ("start" in l) ledger.starts.push(l.start as string);
      if ("end" in l) ledger.ended.add(l.end as string);
    }
    await ledger.check(server, async (id) => resolved[id] ?? id);
  } finally {
    await server.shutdown(1000);
  }
});

test("a spool under a regular file cannot be opened: reported, retried, and direct delivery goes on", async () => {
  const server = await startTestServer();
  const blocker = path.join(tempDir("spool-blocked-"), "a-file");
  writeFileSync(blocker, "not a directory");
  const errors: Error[] = [];
  const emitter = emitterFor(server.target, path.join(blocker, "spool"), errors, { spoolRetryMs: 50 });
  const ledger = new Ledger();
  try {
    for (let i = 0; i < 3; i++) await ledger.pair(emitter, i);
    await ledger.check(server, (id) => emitter.resolveSessionId(id));
    assert.ok(
      ledger.starts.every((id) => id.startsWith("sess_")),
      "delivered directly, not spooled",
    );
    const reported = spoolErrors(errors, "UNAVAILABLE");
    assert.ok(
      reported.length >= 1 && /cannot be opened: ENOTDIR/.test(reported[0]!.message),
      errors.map((e) => e.message).join("\n"),
    );
    // Retried with backoff: the same failure is reported again.
    const deadline = Date.now() + 5000;
    while (spoolErrors(errors, "UNAVAILABLE").length < 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(spoolErrors(errors, "UNAVAILABLE").length >= 3, "the opening is retried");
    assert.not.ok(emitter.stats().spoolAvailable);
  } finally {
    await emitter.close(); // never rejects, whatever the spool did
    await server.shutdown(1000);
  }
  // With the collector down and no spool, the event is not returned: the host is told (neverThrow: through onError).
  const down = emitterFor(`127.0.0.1:${await freePort()}`, path.join(blocker, "spool"), errors, { neverThrow: true });
  assert.is(await down.emitSessionStart({ shellType: "s" }), undefined);
  assert.ok(
    errors.some(
      (e) => e instanceof EmitError && e.status === status.UNAVAILABLE && /spool is unavailable/.test(e.message),
    ),
  );
  await down.close();
});

test("a read-only spool is reported and retried; once writable it spools, and everything is delivered", async () => {
  const root = tempDir("spool-ro-");
  const mnt = path.join(root, "mnt");
  mkdirSync(mnt);
  mountTmpfs(mnt, "size=4m,mode=0755");
  mkdirSync(path.join(mnt, "spool"));
  execFileSync("mount", ["-o", "remount,ro", mnt]);
  const port = await freePort();
  const errors: Error[] = [];
  const ledger = new Ledger();
  try {
    const emitter = emitterFor(`127.0.0.1:${port}`, path.join(mnt, "spool"), errors, {
      spoolRetryMs: 50,
      breaker: { failureThreshold: 1, openMs: 60_000 },
    });
    await ledger.pair(emitter, 0); // neither collector nor spool: not returned, told
    assert.equal(ledger.starts, []);
    assert.match(ledger.failures[0]!.message, /the spool is unavailable/);
    assert.ok(
      spoolErrors(errors, "UNAVAILABLE").some((e) => /cannot be opened: (EROFS|ENOENT)/.test(e.message)),
      errors.map((e) => e.message).join("\n"),
    );
    execFileSync("mount", ["-o", "remount,rw", mnt]);
    const deadline = Date.now() + 5000;
    while (!emitter.stats().spoolAvailable && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(emitter.stats().spoolAvailable, "the spool opened once writable");
    for (let i = 1; i <= 3; i++) await ledger.pair(emitter, i);
    assert.is(ledger.starts.length, 3);
    await emitter.close();
    const server = await startTestServer({ address: `127.0.0.1:${port}` });
    const up = emitterFor(server.target, path.join(mnt, "spool"), errors);
    assert.is(await up.flush(), 6);
    await ledger.check(server, (id) => up.resolveSessionId(id));
    await up.close();
    await server.shutdown(1000);
  } finally {
    execFileSync("umount", [mnt]);
  }
});

test("a garbage state.json is moved aside and reported; what is sent again is stored once", async () => {
  const port = await freePort();
  const spoolDir = tempDir("spool-garbage-");
  const errors: Error[] = [];
  const ledger = new Ledger();
  await spoolWhileDown(port, spoolDir, 3, ledger, errors);
  const server = await startTestServer({ address: `127.0.0.1:${port}` });
  try {
    const first = emitterFor(server.target, spoolDir, errors);
    assert.is(await first.flush(), 6);
    await first.close();
    writeFileSync(path.join(spoolDir, "state.json"), "{ garbage");
    const again = emitterFor(server.target, spoolDir, errors);
    await again.flush();
    const reported = spoolErrors(errors, "DATA_LOSS");
    assert.ok(
      reported.some((e) => /state\.json is damaged/.test(e.message)),
      errors.map((e) => e.message).join("\n"),
    );
    assert.ok(
      readdirSync(spoolDir).some((n) => n.startsWith("state.json.damaged-")),
      "moved aside, not deleted",
    );
    await ledger.check(server, (id) => again.resolveSessionId(id)); // 0 duplicated
    await again.close();
  } finally {
    await server.shutdown(1000);
  }
});

test("a delivered log cut by 3 bytes, then 3 pairs spooled: all delivered, no number reused, the cut reported", async () => {
  const port = await freePort();
  const spoolDir = tempDir("spool-cut-delivered-");
  const errors: Error[] = [];
  const ledger = new Ledger();
  await spoolWhileDown(port, spoolDir, 3, ledger, errors);
  let server = await startTestServer({ address: `127.0.0.1:${port}` });
  const dataDir = server.dataDir;
  const up = emitterFor(server.target, spoolDir, errors);
  assert.is(await up.flush(), 6);
  await up.close();
  await server.shutdown(1000);
  cutBytes(lastSegment(path.join(spoolDir, "log")), 3);

  await spoolWhileDown(port, spoolDir, 3, ledger, errors);
  server = await startTestServer({ address: `127.0.0.1:${port}` }, dataDir);
  try {
    const later = emitterFor(server.target, spoolDir, errors);
    assert.is(await later.flush(), 6);
    await ledger.check(server, (id) => later.resolveSessionId(id));
    await later.close();
    assert.not.ok(existsSync(path.join(spoolDir, "rejected.jsonl")), "nothing refused (NOT_FOUND)");
    assert.ok(
      spoolErrors(errors).some((e) => /torn record .* it had been delivered, nothing is lost/.test(e.message)),
      errors.map((e) => e.message).join("\n"),
    );
    assert.ok(spoolErrors(errors).some((e) => /fresh log/.test(e.message)));
  } finally {
    await server.shutdown(1000);
  }
});

test("log/ deleted while state.json remains: every later event is delivered, and the loss is reported", async () => {
  const port = await freePort();
  const spoolDir = tempDir("spool-deleted-");
  const errors: Error[] = [];
  const ledger = new Ledger();
  await spoolWhileDown(port, spoolDir, 3, ledger, errors);
  let server = await startTestServer({ address: `127.0.0.1:${port}` });
  const dataDir = server.dataDir;
  const up = emitterFor(server.target, spoolDir, errors);
  assert.is(await up.flush(), 6);
  await up.close();
  await server.shutdown(1000);
  rmSync(path.join(spoolDir, "log"), { recursive: true });

  await spoolWhileDown(port, spoolDir, 3, ledger, errors);
  assert.ok(
    spoolErrors(errors).some((e) => /the log ends at record 0, but the spool had written up to 6/.test(e.message)),
    errors.map((e) => e.message).join("\n"),
  );
  server = await startTestServer({ address: `127.0.0.1:${port}` }, dataDir);
  try {
    const later = emitterFor(server.target, spoolDir, errors);
    assert.is(await later.flush(), 6, "6 of 6 later events delivered");
    await ledger.check(server, (id) => later.resolveSessionId(id));
    await later.close();
  } finally {
    await server.shutdown(1000);
  }
});

test("a torn undelivered tail: the lost event is reported by name, the rest delivered", async () => {
  const port = await freePort();
  const spoolDir = tempDir("spool-torn-");
  const errors: Error[] = [];
  const ledger = new Ledger();
  await spoolWhileDown(port, spoolDir, 3, ledger, errors);
  cutBytes(lastSegment(path.join(spoolDir, "log")), 3); // the last end
  const lost = ledger.starts.at(-1)!;
  const server = await startTestServer({ address: `127.0.0.1:${port}` });
  try {
    const up = emitterFor(server.target, spoolDir, errors);
    assert.is(await up.flush(), 5);
    const loss = spoolErrors(errors, "DATA_LOSS").find((e) => e.eventIds.includes(`end of session ${lost}`));
    assert.ok(loss, `the lost end of ${lost} is named:\n${errors.map((e) => e.message).join("\n")}`);
    ledger.ended.delete(lost); // reported lost: the host knows
    await ledger.check(server, (id) => up.resolveSessionId(id));
    await up.close();
  } finally {
    await server.shutdown(1000);
  }
});

test("a full disk: refused loudly while full, direct delivery with the collector up, spooling again once space returns", async () => {
  const root = tempDir("spool-full-");
  const mnt = path.join(root, "mnt");
  mkdirSync(mnt);
  mountTmpfs(mnt, "size=512k,mode=0755");
  const spoolDir = path.join(mnt, "spool");
  const port = await freePort();
  const errors: Error[] = [];
  const ledger = new Ledger();
  try {
    const emitter = emitterFor(`127.0.0.1:${port}`, spoolDir, errors, {
      breaker: { failureThreshold: 1, openMs: 200 },
    });
    await ledger.pair(emitter, 0); // spooled
    // Fill the file system.
    const filler = path.join(mnt, "filler");
    try {
      writeFileSync(filler, Buffer.alloc(1024 * 1024));
    } catch {
      // ENOSPC: full, as wanted
    }
    // The last page of the segment may still take a few records: go on until the disk refuses.
    let tried = 0;
    const refused = () => ledger.failures.some((e) => e instanceof EmitError && /ENOSPC|short write/.test(e.message));
    for (let i = 1; i <= 500 && !refused(); i++, tried++) await ledger.pair(emitter, i);
    assert.ok(
      refused(),
      `the full disk is reported (after ${tried} pairs):\n${errors.map((e) => e.message).join("\n")}`,
    );
    const before = ledger.starts.length;

    // The collector comes back while the disk is still full: what waits is delivered, new events go straight through.
    const server = await startTestServer({ address: `127.0.0.1:${port}` });
    try {
      await drainAll(emitter);
      for (let i = 4; i <= 6; i++) await ledger.pair(emitter, i);
      assert.is(ledger.starts.length, before + 3);
      await server.shutdown(1000);
      // Space returns, the collector is down again: the spool takes events again, by itself.
      rmSync(filler);
      for (let i = 7; i <= 9; i++) await ledger.pair(emitter, i);
      assert.is(ledger.starts.length, before + 6);
      assert.ok(ledger.starts.slice(-3).every((id) => id.startsWith("pending_")));
    } finally {
      await server.shutdown(100);
    }
    await emitter.close();
    const again = await startTestServer({ address: `127.0.0.1:${port}` }, server.dataDir);
    const up = emitterFor(again.target, spoolDir, errors);
    await drainAll(up);
    await ledger.check(again, (id) => up.resolveSessionId(id));
    await up.close();
    await again.shutdown(1000);
  } finally {
    execFileSync("umount", [mnt]); // "target is busy": the emitter leaked a file of the spool
  }
});

test.run();
