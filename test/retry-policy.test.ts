/** The one retry policy (src/client/retry.ts) and its users: emitter, VRP producer, subscriber. */
import { Metadata, status } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmitError, SessionEventEmitter } from "../src/client/emitter.js";
import { retryDelayOf } from "../src/client/retry-info.js";
import { Backoff, DEFAULT_RETRY, retryPolicy, retryVerdict } from "../src/client/retry.js";
import { subscribeVrp, VrpProducer } from "../src/client/vrp.js";
import { startScriptedCollector, throttled } from "./support/scripted-collector.js";
import { freePort } from "./support/ports.js";

const grpcError = (code: status) => ({ code, details: status[code], metadata: new Metadata() });

test("OTLP's retryable codes are retried; every other code is final", () => {
  const retryable = [
    status.UNAVAILABLE,
    status.DEADLINE_EXCEEDED,
    status.CANCELLED,
    status.ABORTED,
    status.OUT_OF_RANGE,
    status.DATA_LOSS,
  ];
  for (const code of retryable) assert.ok(retryVerdict(grpcError(code)).retry, status[code]);
  const final = Object.values(status).filter(
    (c): c is status => typeof c === "number" && c !== status.OK && !retryable.includes(c),
  );
  for (const code of final) assert.not.ok(retryVerdict(grpcError(code)).retry, status[code]);
  assert.not.ok(retryVerdict(new Error("not a gRPC error")).retry);
  assert.not.ok(retryVerdict(undefined).retry);
});

test("RESOURCE_EXHAUSTED is retried only with a RetryInfo, after at least its delay", () => {
  assert.equal(retryVerdict(throttled(1500)), { retry: true, delayMs: 1500 });
  assert.is(retryDelayOf(throttled(2250) as never), 2250);
  const backoff = new Backoff(
    retryPolicy({ maxElapsedMs: 10_000 }),
    () => 0,
    () => 0,
  );
  assert.is(backoff.next(throttled(1500)), 1500, "the server's delay, not the shorter backoff");
  // A damaged details trailer is no RetryInfo, and no crash.
  const damaged = { ...grpcError(status.RESOURCE_EXHAUSTED), metadata: new Metadata() };
  damaged.metadata.set("grpc-status-details-bin", Buffer.from([0xff, 0xff, 0xff]));
  assert.equal(retryVerdict(damaged), { retry: false });
});

test("exponential backoff with jitter, capped, within an elapsed-time budget", () => {
  let now = 0;
  let random = 0;
  const policy = retryPolicy({
    initialIntervalMs: 100,
    maxIntervalMs: 800,
    multiplier: 2,
    randomizationFactor: 0.5,
    maxElapsedMs: 3000,
  });
  const backoff = new Backoff(
    policy,
    () => now,
    () => random,
  );
  const unavailable = grpcError(status.UNAVAILABLE);
  const lows: number[] = [];
  for (let i = 0; i < 6; i++) lows.push(backoff.next(unavailable)!);
  assert.equal(lows, [50, 100, 200, 400, 400, 400], "interval × (1 − 0.5), capped at 800 × 0.5");
  backoff.reset();
  random = 1;
  assert.is(backoff.next(unavailable), 150, "interval × (1 + 0.5)");
  now = 2900;
  assert.is(backoff.next(unavailable), undefined, "the next wait would pass the 3000 ms budget");
  assert.is(backoff.next(grpcError(status.INVALID_ARGUMENT)), undefined, "final");
  const twice = new Backoff(retryPolicy({ maxAttempts: 2 }), () => 0);
  assert.ok(twice.next(unavailable) !== undefined);
  assert.is(twice.next(unavailable), undefined, "two attempts in all");
  assert.ok(
    new Backoff(retryPolicy({ maxAttempts: 1 }), () => 0).next(unavailable, { budget: false }) !== undefined,
    "a spool waits beyond any budget",
  );
  assert.is(DEFAULT_RETRY.maxElapsedMs, 5000);
});

test("a policy that cannot work is refused, naming the field and the rule", () => {
  assert.throws(() => retryPolicy({ multiplier: 0.5 }), /retry\.multiplier: must be ≥ 1; got 0\.5/);
  assert.throws(
    () => retryPolicy({ maxIntervalMs: 10, initialIntervalMs: 100 }),
    /retry\.maxIntervalMs: must be ≥ initialIntervalMs/,
  );
  assert.throws(() => retryPolicy({ maxAttempts: 0 }), /retry\.maxAttempts: must be ≥ 1/);
  assert.throws(() => retryPolicy({ randomizationFactor: 2 }), /retry\.randomizationFactor/);
});

test("emitter: a throttle with RetryInfo is waited out, then the event goes through", async () => {
  const collector = await startScriptedCollector((n) =>
    n === 0 ? throttled(300) : { sessionId: "sess_after_throttle" },
  );
  const emitter = new SessionEventEmitter({ target: collector.target, componentName: "throttled" });
  try {
    assert.is(await emitter.emitSessionStart({ shellType: "s" }), "sess_after_throttle");
    assert.is(collector.calls.length, 2);
    const waited = collector.calls[1]!.at - collector.calls[0]!.at;
    assert.ok(waited >= 290, `waited ${waited} ms for a 300 ms RetryInfo`);
    assert.is(emitter.stats().retried, 1);
  } finally {
    await emitter.close();
    await collector.shutdown();
  }
});

test("emitter: RESOURCE_EXHAUSTED without RetryInfo is final (a limit, not a throttle)", async () => {
  const collector = await startScriptedCollector(() => ({
    code: status.RESOURCE_EXHAUSTED,
    details: "quota",
    metadata: new Metadata(),
  }));
  const emitter = new SessionEventEmitter({ target: collector.target, componentName: "limited" });
  try {
    const e = await emitter.emitSessionStart({ shellType: "s" }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.instance(e, EmitError);
    assert.is((e as EmitError).status, status.RESOURCE_EXHAUSTED);
    assert.is(collector.calls.length, 1);
  } finally {
    await emitter.close();
    await collector.shutdown();
  }
});

test("emitter without a spool: a black hole costs at most the elapsed budget, not attempts × deadline", async () => {
  const collector = await startScriptedCollector(() => "never");
  const emitter = new SessionEventEmitter({
    target: collector.target,
    componentName: "bh",
    deadlineMs: 400,
    retry: { maxElapsedMs: 900 },
  });
  try {
    const t0 = performance.now();
    const e = await emitter.emitSessionStart({ shellType: "s" }).then(
      () => undefined,
      (err: unknown) => err,
    );
    const ms = performance.now() - t0;
    assert.is((e as EmitError).status, status.DEADLINE_EXCEEDED);
    // Each attempt's deadline is cut to what is left of the budget: never 4 × 400 ms.
    assert.ok(ms < 1400, `the call took ${ms} ms for a 900 ms budget`);
  } finally {
    await emitter.close();
    await collector.shutdown();
  }
});

test("VRP producer and subscriber give up when the same policy's budget is spent", async () => {
  const target = `127.0.0.1:${await freePort()}`;
  const producer = new VrpProducer({
    target,
    reconnect: { maxElapsedMs: 300, initialIntervalMs: 20, maxIntervalMs: 50 },
  });
  const sent = await producer.send({ ts_ms: 1, event_type: "SESSION_STARTED", session_id: "s" }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.match(String((sent as Error)?.message), /VRP stream failed: UNAVAILABLE/);
  await producer.close();
  const read = async () => {
    for await (const _ of subscribeVrp({ target, reconnect: { maxAttempts: 2, initialIntervalMs: 10 } })) void _;
  };
  const e = await read().then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.is((e as { code?: number })?.code, status.UNAVAILABLE);
});

test.run();
