/**
 * The emitter's delivery as the host sees it: calls that return within a
 * short wait whatever the collector does (a black hole, a flapping
 * collector, a backlog draining), a bounded spool, close with emits in
 * flight, neverThrow for any argument, early refusal, stats and metrics.
 * Each fault test counts what the host was told against what the collector
 * stored: 0 lost, 0 duplicated.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmitError, SessionEventEmitter, type EmitterOptions } from "../src/client/emitter.js";
import { startTestServer, type TestServer } from "./support/collector.js";
import { drainAll, freePort, Ledger } from "./support/emitter-ledger.js";
import { tempDir } from "./support/repo.js";
import { startScriptedCollector } from "./support/scripted-collector.js";

function emitterFor(target: string, errors: Error[], extra: Partial<EmitterOptions> = {}): SessionEventEmitter {
  return new SessionEventEmitter({ target, componentName: "delivery", onError: (e) => errors.push(e), ...extra });
}

async function waitFor(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !condition(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

test("a black hole: each call returns within the ack wait (spooled), then at once once the breaker opens; all delivered later", async () => {
  const hole = await startScriptedCollector(() => "never");
  const port = Number(hole.target.split(":")[1]);
  const spoolDir = tempDir("delivery-blackhole-");
  const errors: Error[] = [];
  const emitter = emitterFor(hole.target, errors, {
    spoolDir,
    ackWaitMs: 300,
    deadlineMs: 300,
    breaker: { failureThreshold: 2, openMs: 60_000 },
  });
  const ledger = new Ledger();
  const took: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    await ledger.pair(emitter, i);
    took.push(performance.now() - t0);
  }
  assert.is(ledger.starts.length, 6);
  assert.ok(ledger.starts.every((id) => id.startsWith("pending_")));
  // The first pairs waited for the ack wait (never for retries); once the breaker is open, nothing waits.
  assert.ok(
    took.every((ms) => ms < 2 * 300 + 500),
    `each pair within two ack waits: ${took.map(Math.round)}`,
  );
  assert.is(emitter.stats().breaker, "open");
  await emitter.close();
  await hole.shutdown();
  const server = await startTestServer({ address: `127.0.0.1:${port}` });
  try {
    const up = emitterFor(server.target, errors, { spoolDir });
    await drainAll(up);
    await ledger.check(server, (id) => up.resolveSessionId(id));
    await up.close();
  } finally {
    await server.shutdown(1000);
  }
});

test("half-open: at most one trial reaches the collector, the other calls go to the spool at once", async () => {
  const hole = await startScriptedCollector(() => "never");
  const errors: Error[] = [];
  const emitter = emitterFor(hole.target, errors, {
    spoolDir: tempDir("delivery-halfopen-"),
    ackWaitMs: 1000,
    deadlineMs: 1000,
    breaker: { failureThreshold: 1, openMs: 200 },
  });
  try {
    await emitter.emitSessionStart({ shellType: "s" }); // fails after its deadline: the breaker opens
    await waitFor("half-open", () => emitter.stats().breaker === "half-open");
    const before = hole.calls.length;
    const t0 = performance.now();
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: 5 }, () =>
        emitter.emitSessionStart({ shellType: "s" }).then(() => times.push(performance.now() - t0)),
      ),
    );
    // The trial is the background sender's (or one of these calls): never more than one.
    assert.ok(
      hole.calls.length - before <= 1,
      `${hole.calls.length - before} calls reached the collector while half-open`,
    );
    times.sort((a, b) => a - b);
    assert.ok(times[3]! < 500, `at least four returned without waiting for the trial: ${times.map(Math.round)}`);
  } finally {
    await emitter.close();
    await hole.shutdown();
  }
});

test("a flapping collector: 0 lost, 0 duplicated", async () => {
  const port = await freePort();
  const dataDir = tempDir("delivery-flap-data-");
  const errors: Error[] = [];
  const emitter = emitterFor(`127.0.0.1:${port}`, errors, {
    spoolDir: tempDir("delivery-flap-"),
    ackWaitMs: 500,
    deadlineMs: 500,
    breaker: { failureThreshold: 3, openMs: 100 },
    spoolRetryMs: 100,
  });
  const ledger = new Ledger();
  let server: TestServer | undefined;
  let i = 0;
  for (let flap = 0; flap < 4; flap++) {
    server = await startTestServer({ address: `127.0.0.1:${port}` }, dataDir);
    for (let k = 0; k < 5; k++) await ledger.pair(emitter, i++);
    await server.shutdown(200);
    for (let k = 0; k < 5; k++) await ledger.pair(emitter, i++);
  }
  server = await startTestServer({ address: `127.0.0.1:${port}` }, dataDir);
  try {
    await drainAll(emitter);
    assert.is(ledger.starts.length, 40);
    await ledger.check(server, (id) => emitter.resolveSessionId(id));
  } finally {
    await emitter.close();
    await server.shutdown(1000);
  }
});

test("close() with emits in flight waits for them: every returned event is stored", async () => {
  const server = await startTestServer();
  const spoolDir = tempDir("delivery-close-");
  const errors: Error[] = [];
  const emitter = emitterFor(server.target, errors, { spoolDir });
  const ledger = new Ledger();
  try {
    const pairs = Array.from({ length: 20 }, (_, i) => ledger.pair(emitter, i));
    const closed = emitter.close();
    await Promise.all(pairs);
    await closed;
    const after = await emitter.emitSessionStart({ shellType: "late" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match((after as Error).message, /the emitter is closed/);
    // Whatever close() left spooled, the next emitter delivers.
    const next = emitterFor(server.target, errors, { spoolDir });
    await drainAll(next);
    await ledger.check(server, (id) => next.resolveSessionId(id));
    await next.close();
    assert.is(ledger.starts.length, 20, "every start in flight when close() was called returned");
    for (const f of ledger.failures)
      assert.match(f.message, /the emitter is closed/, "only the ends made after close() are refused");
  } finally {
    await server.shutdown(1000);
  }
});

test("neverThrow means never: any argument, and flush, resolveSessionId and close too", async () => {
  const errors: Error[] = [];
  const emitter = new SessionEventEmitter({
    target: "127.0.0.1:1",
    componentName: "c",
    neverThrow: true,
    onError: (e) => errors.push(e),
    spoolDir: tempDir("delivery-never-"),
  });
  const calls: (() => Promise<unknown>)[] = [
    () => (emitter.emitSessionStart as (x?: unknown) => Promise<unknown>)(),
    () => emitter.emitSessionStart(null as never),
    () => emitter.emitSessionStart(42 as never),
    () => emitter.emitSessionStart({ shellType: 5 } as never),
    () => emitter.emitSessionStart({ shellType: "s", metadata: "no" as never }),
    () => (emitter.emitSessionEnd as (x?: unknown) => Promise<unknown>)(),
    () => emitter.emitSessionEnd(null as never),
    () => emitter.emitSessionEnd(""),
    () => emitter.emitSessionEnd("sess_x", [] as never),
  ];
  for (const [i, call] of calls.entries()) {
    const before = errors.length;
    assert.is(await call(), undefined, `call ${i}`);
    assert.is(errors.length, before + 1, `call ${i} is reported`);
  }
  assert.is(await emitter.flush(), 0);
  assert.is(await emitter.resolveSessionId(undefined as never), undefined);
  await emitter.close();
  await emitter.close();
  assert.is(emitter.stats().spooledEvents, 0, "nothing invalid was spooled");
});

test("refused before spooling: an event over the size limit, an end without a session id", async () => {
  const spoolDir = tempDir("delivery-early-");
  const errors: Error[] = [];
  const emitter = emitterFor(`127.0.0.1:${await freePort()}`, errors, { spoolDir });
  try {
    const big = await emitter.emitSessionStart({ shellType: "s", metadata: { pad: "x".repeat(3 * 1024 * 1024) } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(big, EmitError);
    assert.is((big as EmitError).status, status.INVALID_ARGUMENT);
    assert.match((big as Error).message, /event: is \d+ bytes; the collector accepts at most 262144/);
    const empty = await emitter.emitSessionEnd("").then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match((empty as Error).message, /session_id: must not be empty/);
    const stats = emitter.stats();
    assert.is(stats.spooledEvents, 0);
    assert.is(stats.refused, 2);
  } finally {
    await emitter.close();
  }
});

test("a full spool: 'refuse' refuses at once with RESOURCE_EXHAUSTED; 'block' waits for room the sender makes", async () => {
  const port = await freePort();
  const errors: Error[] = [];
  const refusing = emitterFor(`127.0.0.1:${port}`, errors, {
    spoolDir: tempDir("delivery-full-"),
    maxSpoolBytes: 16 * 1024,
    neverThrow: true,
    breaker: { failureThreshold: 1, openMs: 60_000 },
  });
  let returned = 0;
  for (let i = 0; i < 100 && !errors.some((e) => (e as EmitError).status === status.RESOURCE_EXHAUSTED); i++) {
    if (await refusing.emitSessionStart({ shellType: "s" })) returned++;
  }
  const full = errors.find((e) => (e as EmitError).status === status.RESOURCE_EXHAUSTED);
  assert.ok(full, "the host is told through onError");
  assert.match(full!.message, /the spool is full \(\d+ bytes of maxSpoolBytes 16384, \d+ events waiting\)/);
  assert.is(refusing.stats().spooledEvents, returned, "every returned event is in the spool");
  assert.is(refusing.stats().dropped, 1);
  await refusing.close();

  const spoolDir = tempDir("delivery-block-");
  const blocking = emitterFor(`127.0.0.1:${port}`, errors, {
    spoolDir,
    maxSpoolBytes: 16 * 1024,
    onSpoolFull: "block",
    spoolFullBlockMs: 20_000,
    spoolRetryMs: 100,
    breaker: { failureThreshold: 1, openMs: 100 },
  });
  const ledger = new Ledger();
  let i = 0;
  // Fill it (the collector is down): each call spools, until one blocks.
  let blocked: Promise<void> | undefined;
  for (; i < 100; i++) {
    const pair = ledger.pair(blocking, i);
    const settled = await Promise.race([pair.then(() => true), new Promise((r) => setTimeout(() => r(false), 1000))]);
    if (!settled) {
      blocked = pair;
      break;
    }
  }
  assert.ok(blocked, "a call blocks once the spool is full");
  const server = await startTestServer({ address: `127.0.0.1:${port}` });
  try {
    await blocked; // the sender delivers, the spool gives its space back, the call goes on
    await drainAll(blocking);
    await ledger.check(server, (id) => blocking.resolveSessionId(id));
    assert.equal(ledger.failures, []);
  } finally {
    await blocking.close();
    await server.shutdown(1000);
  }
});

test("a backlog drains in the background: the host's calls go on, state is written in batches, the disk is given back", async () => {
  const port = await freePort();
  const spoolDir = tempDir("delivery-backlog-");
  const errors: Error[] = [];
  const down = emitterFor(`127.0.0.1:${port}`, errors, { spoolDir, breaker: { failureThreshold: 1, openMs: 60_000 } });
  const ledger = new Ledger();
  for (let i = 0; i < 200; i++) await ledger.pair(down, i);
  await down.close();
  const bytesBefore = down.stats().spooledBytes;
  const server = await startTestServer({ address: `127.0.0.1:${port}` });
  const up = emitterFor(server.target, errors, { spoolDir });
  try {
    await ledger.pair(up, 1000); // while 400 events wait: straight through, not behind them
    assert.match(ledger.starts.at(-1)!, /^sess_/);
    await drainAll(up);
    await ledger.check(server, (id) => up.resolveSessionId(id));
    const stats = up.stats();
    assert.ok(stats.stateWrites < 40, `state.json written ${stats.stateWrites} times for 400 events`);
    await waitFor("the delivered log to be reclaimed", () => up.stats().spooledBytes < 1024);
    assert.ok(bytesBefore > 100_000, `the backlog took ${bytesBefore} bytes`);
  } finally {
    await up.close();
    await server.shutdown(1000);
  }
});

test("the host's calls come first: while one is in flight the drain sends one event at a time, on its own connection, and never stops", async () => {
  const spoolDir = tempDir("delivery-priority-");
  const errors: Error[] = [];
  const down = emitterFor(`127.0.0.1:${await freePort()}`, errors, {
    spoolDir,
    breaker: { failureThreshold: 1, openMs: 60_000 },
  });
  for (let i = 0; i < 60; i++) await down.emitSessionStart({ shellType: "BacklogShell" });
  await down.close();
  let n = 0;
  // Every answer takes 5 ms, so that calls overlap and the collector sees how many are in flight.
  const collector = await startScriptedCollector(() => ({ sessionId: `sess_${n++}`, delayMs: 5 }));
  const upErrors: Error[] = [];
  const up = emitterFor(collector.target, upErrors, { spoolDir });
  try {
    await waitFor("the drain to start", () => collector.calls.length > 0);
    for (let i = 0; i < 20; i++) assert.match((await up.emitSessionStart({ shellType: "HostShell" }))!, /^sess_/);
    await drainAll(up);
    const calls = collector.calls.map((c) => ({
      ...c,
      host: (c.request as { event?: { shellType?: string } }).event?.shellType === "HostShell",
    }));
    const host = calls.filter((c) => c.host);
    const drain = calls.filter((c) => !c.host);
    assert.is(host.length, 20);
    assert.ok(drain.length >= 60, `the whole backlog was sent (${drain.length} calls)`);
    assert.is(new Set(host.map((c) => c.peer)).size, 1);
    assert.not.ok(
      drain.some((c) => c.peer === host[0]!.peer),
      "the drain's calls come on a connection of their own",
    );
    // From the end of the first host call (which may meet a full batch already in flight) to the last one's end.
    const from = host[0]!.answeredAt!;
    const until = host.at(-1)!.answeredAt!;
    const during = drain.filter((c) => c.at >= from && c.at < until);
    const inFlightAt = (t: number) => drain.filter((c) => c.at <= t && t < (c.answeredAt ?? Infinity)).length;
    const most = Math.max(0, ...during.map((c) => inFlightAt(c.at)));
    assert.ok(most <= 1, `at most one of the drain's calls in flight beside the host's: ${most}`);
    assert.ok(during.length >= 3, `the drain went on while the host was busy: ${during.length} calls`);
    assert.equal(upErrors, []);
  } finally {
    await up.close();
    await collector.shutdown();
  }
});

test("placeholders are answered within their window, then forgotten", async () => {
  const port = await freePort();
  const spoolDir = tempDir("delivery-window-");
  const errors: Error[] = [];
  const down = emitterFor(`127.0.0.1:${port}`, errors, { spoolDir });
  const placeholder = (await down.emitSessionStart({ shellType: "s" }))!;
  await down.close();
  const server = await startTestServer({ address: `127.0.0.1:${port}` });
  const up = emitterFor(server.target, errors, { spoolDir, placeholderRetentionMs: 300 });
  try {
    await drainAll(up);
    assert.match(await up.resolveSessionId(placeholder), /^sess_/);
    await new Promise((r) => setTimeout(r, 400)); // time itself is what is tested: the 300 ms window passes
    assert.is(await up.resolveSessionId(placeholder), placeholder);
    await up.close();
    assert.is(readFileSync(path.join(spoolDir, "placeholders.jsonl"), "utf8"), "", "pruned from the journal too");
  } finally {
    await up.close();
    await server.shutdown(1000);
  }
});

test("stats() and the host's metrics registry tell the same numbers", async () => {
  const server = await startTestServer();
  const registered: { name: string; get: () => Promise<{ values: { value: number; labels: object }[] }> }[] = [];
  const registry = { registerMetric: (m: unknown) => void registered.push(m as (typeof registered)[number]) };
  const emitter = emitterFor(server.target, [], { spoolDir: tempDir("delivery-stats-"), metrics: registry });
  try {
    await emitter.emitSessionStart({ shellType: "s" });
    const stats = emitter.stats();
    assert.is(stats.delivered, 1);
    assert.is(stats.spooledEvents, 0);
    assert.is(stats.breaker, "closed");
    const delivered = registered.find((m) => m.name === "session_events_emitter_delivered_total")!;
    assert.equal((await delivered.get()).values, [{ value: 1, labels: { component: "delivery" } }]);
    assert.ok(registered.some((m) => m.name === "session_events_emitter_spool_bytes"));
  } finally {
    await emitter.close();
    await server.shutdown(1000);
  }
});

test.run();
