/** SessionEventEmitter against a real collector on loopback: retries, breaker, neverThrow, spool. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CircuitOpenError } from "../src/client/circuit-breaker.js";
import { EmitError, SessionEventEmitter } from "../src/client/emitter.js";
import { ValidationError } from "../src/contract/errors.js";
import { startTestServer } from "./support/collector.js";
import { tempDir } from "./support/repo.js";
import { freePort } from "./support/ports.js";

test("emits a start and an end; the collector has the session, ended", async () => {
  const server = await startTestServer();
  const emitter = new SessionEventEmitter({ target: server.target, componentName: "mahavishnu" });
  const sessionId = await emitter.emitSessionStart({ shellType: "MahavishnuShell", metadata: { workspace: "/w" } });
  assert.match(sessionId!, /^sess_/);
  await emitter.emitSessionEnd(sessionId!, { exit_reason: "user_exit" });
  const view = server.collector.getSession(sessionId!);
  assert.is(view.status, "ended");
  assert.is(view.start.shellType, "MahavishnuShell");
  await emitter.close();
  await server.shutdown(1000);
});

test("retries with backoff until a collector that starts late answers", async () => {
  const port = await freePort();
  const emitter = new SessionEventEmitter({
    target: `127.0.0.1:${port}`,
    componentName: "late",
    retry: { maxAttempts: 10, initialIntervalMs: 100, maxIntervalMs: 400 },
  });
  let server: Awaited<ReturnType<typeof startTestServer>> | undefined;
  setTimeout(() => void startTestServer({ address: `127.0.0.1:${port}` }).then((s) => (server = s)), 300);
  const sessionId = await emitter.emitSessionStart({ shellType: "Shell" });
  assert.match(sessionId!, /^sess_/);
  assert.is(server!.collector.sessionCount, 1);
  await emitter.close();
  await server!.shutdown(1000);
});

test("the circuit opens after repeated failures: a dead collector then costs nothing", async () => {
  const emitter = new SessionEventEmitter({
    target: `127.0.0.1:${await freePort()}`,
    componentName: "c",
    retry: { maxAttempts: 1 },
    breaker: { failureThreshold: 2, openMs: 60_000 },
  });
  for (let i = 0; i < 2; i++) {
    const e = await emitter.emitSessionStart({ shellType: "s" }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.instance(e, EmitError);
    assert.is((e as EmitError).status, status.UNAVAILABLE);
  }
  const t0 = performance.now();
  const e = await emitter.emitSessionStart({ shellType: "s" }).then(
    () => undefined,
    (err: unknown) => err,
  );
  const ms = performance.now() - t0;
  assert.instance((e as EmitError).cause, CircuitOpenError);
  assert.ok(ms < 50, `failing fast took ${ms} ms`);
  await emitter.close();
});

test("neverThrow: failures return undefined and go to onError, invalid input too", async () => {
  const errors: Error[] = [];
  const emitter = new SessionEventEmitter({
    target: `127.0.0.1:${await freePort()}`,
    componentName: "c",
    neverThrow: true,
    onError: (e) => errors.push(e),
    retry: { maxAttempts: 2, initialIntervalMs: 10 },
  });
  assert.is(await emitter.emitSessionStart({ shellType: "s" }), undefined);
  assert.is(await emitter.emitSessionEnd("sess_x"), undefined);
  assert.is((errors[0] as EmitError).status, status.UNAVAILABLE);
  const invalid = new SessionEventEmitter({
    target: "127.0.0.1:1",
    componentName: "not a name",
    neverThrow: true,
    onError: (e) => errors.push(e),
  });
  assert.is(await invalid.emitSessionStart({ shellType: "s" }), undefined);
  assert.instance(errors.at(-1), ValidationError);
  await emitter.close();
  await invalid.close();
});

test("without neverThrow, invalid input throws a ValidationError naming the field", async () => {
  const emitter = new SessionEventEmitter({ target: "127.0.0.1:1", componentName: "not a name" });
  const e = await emitter.emitSessionStart({ shellType: "s" }).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.instance(e, ValidationError);
  assert.match((e as Error).message, /\/component_name: must match pattern/);
  await emitter.close();
});

test("spool: events made while the collector is down are delivered, in order, once it is back", async () => {
  const port = await freePort();
  const spoolDir = tempDir("spool-");
  const emitter = new SessionEventEmitter({
    target: `127.0.0.1:${port}`,
    componentName: "spooled",
    spoolDir,
    retry: { maxAttempts: 1 },
    spoolRetryMs: 60_000,
  });
  const placeholder = await emitter.emitSessionStart({ shellType: "s" });
  assert.match(placeholder!, /^pending_[0-9a-f-]{36}$/);
  await emitter.emitSessionEnd(placeholder!, { exit_reason: "done" });
  const second = await emitter.emitSessionStart({ shellType: "s2" });
  assert.match(second!, /^pending_/);
  await emitter.close();

  // A new process (a new emitter on the same spool) delivers them.
  const server = await startTestServer({ address: `127.0.0.1:${port}` });
  const later = new SessionEventEmitter({
    target: server.target,
    componentName: "spooled",
    spoolDir,
    spoolRetryMs: 60_000,
  });
  assert.is(await later.flush(), 3);
  const real = await later.resolveSessionId(placeholder!);
  assert.match(real, /^sess_/);
  assert.is(server.collector.getSession(real).status, "ended");
  assert.is(server.collector.sessionCount, 2);
  assert.is(await later.flush(), 0); // nothing twice
  // New events go straight through once the spool is empty.
  assert.match((await later.emitSessionStart({ shellType: "s3" }))!, /^sess_/);
  await later.close();
  await server.shutdown(1000);
});

test("spool: an event the collector refuses for good is set aside, and the rest still goes through", async () => {
  const port = await freePort();
  const spoolDir = tempDir("spool-reject-");
  const errors: Error[] = [];
  const down = new SessionEventEmitter({
    target: `127.0.0.1:${port}`,
    componentName: "c",
    spoolDir,
    retry: { maxAttempts: 1 },
    spoolRetryMs: 60_000,
    neverThrow: true,
    onError: (e) => errors.push(e),
  });
  await down.emitSessionEnd("sess_never_started"); // NOT_FOUND once the collector is back
  const placeholder = await down.emitSessionStart({ shellType: "s" });
  await down.close();
  const server = await startTestServer({ address: `127.0.0.1:${port}` });
  const up = new SessionEventEmitter({
    target: server.target,
    componentName: "c",
    spoolDir,
    spoolRetryMs: 60_000,
    neverThrow: true,
    onError: (e) => errors.push(e),
  });
  assert.is(await up.flush(), 1);
  assert.match(await up.resolveSessionId(placeholder!), /^sess_/);
  const rejected = readFileSync(path.join(spoolDir, "rejected.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.is(rejected.length, 1);
  assert.is(rejected[0].event.event.session_id, "sess_never_started");
  assert.match(rejected[0].error, /NOT_FOUND/);
  assert.ok(errors.some((e) => (e as EmitError).status === status.NOT_FOUND));
  await up.close();
  await server.shutdown(1000);
});

test("spool: ending a placeholder once the collector is back ends the real session", async () => {
  const port = await freePort();
  const spoolDir = tempDir("spool-late-end-");
  const emitter = new SessionEventEmitter({
    target: `127.0.0.1:${port}`,
    componentName: "c",
    spoolDir,
    retry: { maxAttempts: 1 },
    breaker: { failureThreshold: 100 },
    spoolRetryMs: 60_000,
  });
  const placeholder = await emitter.emitSessionStart({ shellType: "s" });
  assert.match(placeholder!, /^pending_/);
  const server = await startTestServer({ address: `127.0.0.1:${port}` });
  try {
    // Delivered now, or spooled behind the start if the channel is still reconnecting:
    // either way the end must reach the real session, never "pending_...".
    await emitter.emitSessionEnd(placeholder!, { exit_reason: "done" });
    for (
      let i = 0;
      i < 50 &&
      (await emitter.flush().catch(() => 0),
      server.collector.sessionCount === 0 ||
        server.collector.listSessions({ status: "ended" }, 0, "").sessions.length === 0);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const real = await emitter.resolveSessionId(placeholder!);
    assert.match(real, /^sess_/);
    assert.is(server.collector.getSession(real).status, "ended");
  } finally {
    await emitter.close();
    await server.shutdown(1000);
  }
});

test("spool: concurrent flushes share one drain, so nothing is sent twice", async () => {
  const port = await freePort();
  const spoolDir = tempDir("spool-flush-");
  const down = new SessionEventEmitter({
    target: `127.0.0.1:${port}`,
    componentName: "c",
    spoolDir,
    retry: { maxAttempts: 1 },
    spoolRetryMs: 60_000,
  });
  for (let i = 0; i < 20; i++) await down.emitSessionStart({ shellType: `s${i}` });
  await down.close();
  const server = await startTestServer({ address: `127.0.0.1:${port}` });
  const up = new SessionEventEmitter({ target: server.target, componentName: "c", spoolDir, spoolRetryMs: 60_000 });
  const counts = await Promise.all([up.flush(), up.flush(), up.flush()]);
  assert.equal(counts, [20, 20, 20]);
  assert.is(server.collector.sessionCount, 20);
  await up.close();
  await server.shutdown(1000);
});

test.run();
