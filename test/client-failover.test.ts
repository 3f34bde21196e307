/**
 * Clients over several collectors (`target: "a,b,c"`, CLI `--target a,b,c`):
 * calls spread over the ones that are up; a call answered UNAVAILABLE is
 * retried with the same event on another; a collector that goes away or was
 * never there costs no event. Real collectors and a real gRPC server that
 * answers UNAVAILABLE (the fault), all on loopback.
 */
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  SessionServiceService,
  type EmitSessionStartRequest,
  type GetSessionResponse,
} from "../gen/oneiric/session/v1/session_service.js";
import { SessionEventEmitter } from "../src/client/emitter.js";
import { channelTarget, parseTargets } from "../src/client/connection.js";
import { connection } from "../src/cli/client-commands.js";
import { call, clientFor, startTestServer } from "./support/collector.js";
import { freePort } from "./support/ports.js";

/** A gRPC server that answers every EmitSessionStart UNAVAILABLE and remembers the event_ids. */
async function unavailableCollector(): Promise<{ target: string; seen: string[]; stop: () => void }> {
  const server = new Server();
  const seen: string[] = [];
  const refuse = (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
    callback({ code: status.UNAVAILABLE, details: "draining" });
  server.addService(SessionServiceService, {
    emitSessionStart: (c: ServerUnaryCall<EmitSessionStartRequest, unknown>, callback: sendUnaryData<unknown>) => {
      seen.push(c.request.event!.eventId);
      refuse(c, callback);
    },
    emitSessionEnd: refuse,
    getSession: refuse,
    listSessions: refuse,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { target: `127.0.0.1:${port}`, seen, stop: () => server.forceShutdown() };
}

const sessionOn = async (target: string, sessionId: string) =>
  (await call<object, GetSessionResponse>(clientFor(target), "getSession", { sessionId })).session;

test("a start answered UNAVAILABLE by one collector is retried with the same event_id on another", async () => {
  const bad = await unavailableCollector();
  const good = await startTestServer();
  const emitter = new SessionEventEmitter({
    target: `${bad.target},${good.target}`,
    componentName: "failover-test",
    retry: { maxAttempts: 6, initialIntervalMs: 10, maxIntervalMs: 50 },
  });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await emitter.emitSessionStart({ shellType: "bash" }))!);
    assert.ok(bad.seen.length > 0, "round robin sent some starts to the refusing collector");
    for (const id of ids) assert.ok(await sessionOn(good.target, id), `${id} is stored on the good collector`);
    // Every event the refusing collector saw was then stored, with the same event_id, on the good one.
    const stored = await Promise.all(ids.map(async (id) => (await sessionOn(good.target, id))!.start!.eventId));
    for (const eventId of bad.seen) assert.ok(stored.includes(eventId), `${eventId} retried on the good collector`);
  } finally {
    await emitter.close();
    bad.stop();
    await good.shutdown(0);
  }
});

test("a collector that goes away, or was never there, costs no start", async () => {
  const a = await startTestServer();
  const b = await startTestServer();
  const never = await freePort();
  const emitter = new SessionEventEmitter({
    target: `127.0.0.1:${never},${a.target},${b.target}`,
    componentName: "failover-test",
    retry: { maxAttempts: 6, initialIntervalMs: 10, maxIntervalMs: 100 },
  });
  try {
    const before: string[] = [];
    for (let i = 0; i < 10; i++) before.push((await emitter.emitSessionStart({ shellType: "zsh" }))!);
    const onA = (await Promise.all(before.map((id) => sessionOn(a.target, id).catch(() => undefined)))).filter(
      Boolean,
    ).length;
    assert.ok(onA > 0 && onA < before.length, `both live collectors took starts (a: ${onA} of ${before.length})`);
    await a.shutdown(0);
    const after: string[] = [];
    for (let i = 0; i < 10; i++) after.push((await emitter.emitSessionStart({ shellType: "zsh" }))!);
    for (const id of after) assert.ok(await sessionOn(b.target, id), `${id} stored on the surviving collector`);
  } finally {
    await emitter.close();
    await b.shutdown(0);
  }
});

test("targets: host:port lists, checked with errors naming the target; one target stays as it is", () => {
  assert.equal(parseTargets("a:1, b:2,[::1]:3"), ["a:1", "b:2", "[::1]:3"]);
  assert.is(channelTarget("collector:50051"), "collector:50051");
  assert.match(channelTarget("a:1,b:2"), /^session-events-targets:a:1,b:2$/);
  for (const bad of ["a", "a:1,", "a:1,b", "http://a:1"]) {
    try {
      parseTargets(bad);
      assert.unreachable(bad);
    } catch (e) {
      assert.match((e as Error).message, "target: each collector must be host:port");
    }
  }
  assert.is(connection({ target: "a:1,b:2" }).target, "a:1,b:2");
  try {
    connection({ target: "a:1,,b:2" });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, "--target: each collector must be host:port");
  }
});

test.run();
