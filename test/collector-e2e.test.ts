/** The collector end to end: a real grpc-js server on loopback, real files. */
import { type Metadata, status } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { SessionStartEvent, SessionEndEvent } from "../src/session/models.js";
import { fieldViolations } from "../src/server/rich-error.js";
import {
  EmitSessionStartRequest,
  ListSessionsRequest,
  SessionStatus,
  type EmitSessionStartResponse,
  type GetSessionResponse,
  type ListSessionsResponse,
} from "../gen/oneiric/session/v1/session_service.js";
import { SessionStartEvent as StartMessage } from "../gen/oneiric/session/v1/session_events.js";
import { validStart } from "./support/fixtures.js";
import { call, clientFor, rejection, startTestServer } from "./support/collector.js";

const startMessage = (component = "mahavishnu", extra: object = {}) =>
  bridges.SessionStartEvent.fromJson({
    ...SessionStartEvent.create({ componentName: component, shellType: "Shell" }),
    ...extra,
  });
const endMessage = (sessionId: string, timestamp?: string) =>
  bridges.SessionEndEvent.fromJson({ ...SessionEndEvent.create({ sessionId }), ...(timestamp ? { timestamp } : {}) });

const server = await startTestServer();
const client = clientFor(server.target);
const start = (event: unknown, opts?: { metadata?: Metadata }) =>
  call<unknown, EmitSessionStartResponse>(client, "emitSessionStart", { event }, opts);
const get = (sessionId: string) => call<unknown, GetSessionResponse>(client, "getSession", { sessionId });

test("EmitSessionStart assigns a unique session id and stores the event", async () => {
  await server.settled();
  const before = server.collector.sessionCount;
  const a = await start(startMessage());
  const b = await start(startMessage());
  await server.settled();
  assert.is(a.status, "created");
  assert.match(a.sessionId, /^sess_[0-9a-f]{32}$/);
  assert.is.not(a.sessionId, b.sessionId);
  assert.is(server.collector.sessionCount, before + 2);
  const got = await get(a.sessionId);
  assert.is(got.session!.status, SessionStatus.SESSION_STATUS_OPEN);
  assert.is(got.session!.start!.componentName, "mahavishnu");
});

test("a retried start gets the same session id and is stored once", async () => {
  const event = startMessage();
  const first = await start(event);
  await server.settled();
  const count = server.collector.sessionCount;
  const again = await start(event);
  assert.equal([again.sessionId, again.status], [first.sessionId, "duplicate"]);
  await server.settled();
  assert.is(server.collector.sessionCount, count);
});

test("concurrent retries of one start are stored once", async () => {
  const event = startMessage();
  await server.settled();
  const count = server.collector.sessionCount;
  const answers = await Promise.all(Array.from({ length: 10 }, () => start(event)));
  assert.is(new Set(answers.map((a) => a.sessionId)).size, 1);
  assert.equal(answers.filter((a) => a.status === "created").length, 1);
  await server.settled();
  assert.is(server.collector.sessionCount, count + 1);
});

test("the same event_id with other content is refused", async () => {
  const event = startMessage();
  await start(event);
  const e = await rejection(start({ ...event, shellType: "Other" }));
  assert.is(e.code, status.ALREADY_EXISTS);
  assert.match(e.details, /event_id: "[0-9a-f-]+" was already used by a different event/);
});

test("EmitSessionEnd closes the session with its duration; a repeat is idempotent", async () => {
  const s = await start(startMessage("c", { timestamp: "2026-02-06T12:00:00Z" }));
  const end = await call<unknown, { sessionId: string; status: string }>(client, "emitSessionEnd", {
    event: endMessage(s.sessionId, "2026-02-06T13:00:00.500Z"),
  });
  assert.equal(end, { sessionId: s.sessionId, status: "ended" });
  const again = await call<unknown, { status: string }>(client, "emitSessionEnd", {
    event: endMessage(s.sessionId, "2026-02-06T13:05:00Z"),
  });
  assert.is(again.status, "duplicate");
  const got = await get(s.sessionId);
  assert.is(got.session!.status, SessionStatus.SESSION_STATUS_ENDED);
  assert.is(got.session!.durationMs, 3_600_500n);
  assert.is(got.session!.end!.timestamp!.seconds, 1770382800n);
});

test("an end for an unknown session is NOT_FOUND; an end before its start is refused", async () => {
  let e = await rejection(call(client, "emitSessionEnd", { event: endMessage("sess_nope") }));
  assert.is(e.code, status.NOT_FOUND);
  assert.match(e.details, /session_id: no session "sess_nope"/);
  const s = await start(startMessage("c", { timestamp: "2026-02-06T12:00:00Z" }));
  e = await rejection(call(client, "emitSessionEnd", { event: endMessage(s.sessionId, "2026-02-06T11:59:59Z") }));
  assert.is(e.code, status.FAILED_PRECONDITION);
  assert.match(e.details, /is before the session's start/);
});

test("GetSession: unknown is NOT_FOUND, empty is INVALID_ARGUMENT", async () => {
  assert.is((await rejection(get("sess_missing"))).code, status.NOT_FOUND);
  assert.is((await rejection(get(""))).code, status.INVALID_ARGUMENT);
});

test("ListSessions filters by component, status and time, page by page", async () => {
  const component = `list-${Date.now()}`;
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) {
    ids.push((await start(startMessage(component, { timestamp: `2026-03-0${i + 1}T00:00:00Z` }))).sessionId);
  }
  await call(client, "emitSessionEnd", { event: endMessage(ids[0]!) });
  // Requests are built with fromPartial: a cast partial object fails inside grpc-js.
  const list = (req: object) =>
    call<object, ListSessionsResponse>(client, "listSessions", ListSessionsRequest.fromPartial(req));
  const seen: string[] = [];
  let pageToken = "";
  let pages = 0;
  do {
    const page = await list({ componentName: component, pageSize: 3, pageToken });
    seen.push(...page.sessions.map((s) => s.sessionId));
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken);
  assert.equal(seen, ids);
  assert.is(pages, 3);
  assert.equal(
    (await list({ componentName: component, status: SessionStatus.SESSION_STATUS_ENDED })).sessions.map(
      (s) => s.sessionId,
    ),
    [ids[0]],
  );
  assert.is((await list({ componentName: component, status: SessionStatus.SESSION_STATUS_OPEN })).sessions.length, 6);
  const window = await list({
    componentName: component,
    startedAfter: { seconds: 1772496000n, nanos: 0 },
    startedBefore: { seconds: 1772668800n, nanos: 0 },
  });
  assert.equal(
    window.sessions.map((s) => s.sessionId),
    [ids[2], ids[3]],
  ); // 03-03 inclusive .. 03-05 exclusive
});

test("ListSessions refuses a forged page token and a page size past the limit", async () => {
  let e = await rejection(call(client, "listSessions", ListSessionsRequest.fromPartial({ pageToken: "not-a-token" })));
  assert.is(e.code, status.INVALID_ARGUMENT);
  assert.equal(
    fieldViolations(e).map((v) => v.field),
    ["page_token"],
  );
  e = await rejection(call(client, "listSessions", ListSessionsRequest.fromPartial({ pageSize: 5000 })));
  assert.is(e.code, status.INVALID_ARGUMENT);
  assert.match(e.details, /page_size/);
});

test("invalid events over the wire: INVALID_ARGUMENT naming every field and rule, nothing stored", async () => {
  await server.settled();
  const count = server.collector.sessionCount;
  const bad = StartMessage.fromPartial({
    ...startMessage(),
    pid: 0,
    componentName: "my component",
    eventVersion: "2.0",
    eventId: "nope",
  });
  const e = await rejection(start(bad));
  assert.is(e.code, status.INVALID_ARGUMENT);
  assert.match(e.details, /Unsupported event version: 2\.0 \(expected '1\.0'\)/);
  const violations = fieldViolations(e);
  assert.equal(
    new Set(violations.map((v) => `${v.field} ${v.reason}`)),
    new Set([
      "event.event_version EVENT_VERSION",
      "event.event_id FORMAT",
      "event.component_name PATTERN",
      "event.pid MINIMUM",
    ]),
  );
  await server.settled();
  assert.is(server.collector.sessionCount, count);
});

test("a missing event, a bad Timestamp, __proto__ metadata and bad UTF-8 are client errors, not INTERNAL", async () => {
  assert.equal(
    fieldViolations(await rejection(start(undefined))).map((v) => v.field),
    ["event"],
  );
  let e = await rejection(start({ ...startMessage(), timestamp: { seconds: 0n, nanos: 2_000_000_000 } }));
  assert.is(e.code, status.INVALID_ARGUMENT);
  assert.ok(fieldViolations(e).some((v) => v.field === "event.timestamp"));
  e = await rejection(start({ ...startMessage(), metadata: { ["__proto__"]: "x" } }));
  assert.is(e.code, status.INVALID_ARGUMENT);
  assert.equal(
    fieldViolations(e).map((v) => [v.field, v.reason]),
    [["event.metadata.__proto__", "FORBIDDEN_KEY"]],
  );
  // Invalid UTF-8 needs raw bytes: a JS client cannot even write it.
  const bytes = Buffer.from(
    EmitSessionStartRequest.encode({ event: startMessage("c", { hostname: "host-ab" }) }).finish(),
  );
  bytes[bytes.indexOf(Buffer.from("host-ab"))] = 0xff;
  e = await rejection(
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        "/oneiric.session.v1.SessionService/EmitSessionStart",
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    ),
  );
  assert.is(e.code, status.INVALID_ARGUMENT);
  assert.match(e.details, /malformed protobuf/);
});

test("deadlines are honoured: an expired call is DEADLINE_EXCEEDED", async () => {
  const e = await rejection(call(client, "emitSessionStart", { event: startMessage() }, { deadlineMs: -1 }));
  assert.is(e.code, status.DEADLINE_EXCEEDED);
});

test("messages above the size limit are refused with RESOURCE_EXHAUSTED", async () => {
  const e = await rejection(start({ ...startMessage(), metadata: { blob: "x".repeat(5 * 1024 * 1024) } }));
  assert.is(e.code, status.RESOURCE_EXHAUSTED);
});

test("an event too big to be read back in a session is refused; pages stay within the message limit", async () => {
  const small = await startTestServer({ maxMessageBytes: 64 * 1024 });
  const c = clientFor(small.target);
  const big = { ...startMessage("size"), metadata: { blob: "x".repeat(40 * 1024) } };
  const e = await rejection(call(c, "emitSessionStart", { event: big }));
  assert.is(e.code, status.INVALID_ARGUMENT);
  assert.equal(
    fieldViolations(e).map((v) => [v.field, v.reason]),
    [["event", "MAX_SIZE"]],
  );
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    ids.push(
      (
        await call<unknown, EmitSessionStartResponse>(c, "emitSessionStart", {
          event: { ...startMessage("size"), metadata: { blob: "y".repeat(20 * 1024) } },
        })
      ).sessionId,
    );
  }
  const seen: string[] = [];
  let pageToken = "";
  let pages = 0;
  do {
    const page = await call<object, ListSessionsResponse>(
      c,
      "listSessions",
      ListSessionsRequest.fromPartial({ pageSize: 50, pageToken }),
    );
    seen.push(...page.sessions.map((s) => s.sessionId));
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken);
  assert.equal(seen, ids);
  assert.ok(pages >= 2, `${pages} pages`);
  c.close();
  await small.shutdown(1000);
});

test("the seed's valid example is accepted over the wire", async () => {
  const r = await start(bridges.SessionStartEvent.fromJson({ ...validStart(), event_id: crypto.randomUUID() }));
  assert.is(r.status, "created");
});

test("after a restart, sessions, ends and idempotency are all still there", async () => {
  const own = await startTestServer();
  const c = clientFor(own.target);
  const event = startMessage("restart");
  const s = await call<unknown, EmitSessionStartResponse>(c, "emitSessionStart", { event });
  await call(c, "emitSessionEnd", { event: endMessage(s.sessionId) });
  c.close();
  await own.shutdown(1000);
  const again = await startTestServer({}, own.dataDir);
  const c2 = clientFor(again.target);
  const got = await call<unknown, GetSessionResponse>(c2, "getSession", { sessionId: s.sessionId });
  assert.is(got.session!.status, SessionStatus.SESSION_STATUS_ENDED);
  const retry = await call<unknown, EmitSessionStartResponse>(c2, "emitSessionStart", { event });
  assert.equal([retry.sessionId, retry.status], [s.sessionId, "duplicate"]);
  c2.close();
  await again.shutdown(1000);
});

test("shutdown lets calls in flight finish and keeps every acknowledged event", async () => {
  const own = await startTestServer();
  const c = clientFor(own.target);
  await call(c, "emitSessionStart", { event: startMessage("warm-up") }); // connected
  const calls = Array.from({ length: 200 }, () =>
    call<unknown, EmitSessionStartResponse>(c, "emitSessionStart", { event: startMessage("drain") }),
  );
  const inFlight = calls.map((p) =>
    p.then(
      (r) => r.sessionId,
      () => undefined,
    ),
  );
  await Promise.race(calls); // the server is now handling calls
  await own.shutdown(5000);
  const acked = (await Promise.all(inFlight)).filter((id): id is string => id !== undefined);
  assert.ok(acked.length > 1, `${acked.length} calls were acknowledged`);
  c.close();
  const again = await startTestServer({}, own.dataDir);
  for (const id of acked) assert.ok(again.collector.getSession(id), id);
  assert.is(again.collector.sessionCount, acked.length + 1); // + the warm-up
  await again.shutdown(1000);
});

test.after(async () => {
  client.close();
  await server.shutdown(1000);
});

test.run();
