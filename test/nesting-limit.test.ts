/**
 * Issue 9: one nesting limit for `metadata` / `details`, on every path, named
 * by the field and the rule. MAX_FREE_FORM_DEPTH levels pass everywhere (in
 * the worst shapes: objects all the way, an empty object at the bottom); one
 * more is refused everywhere with `max_depth` at the path of the first value
 * too deep. Before, JSON took 64 levels, a request decoder gave up at about
 * 32 with "recursion limit exceeded" and no field, and toBinary wrote bytes
 * its own fromBinary refused.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { status, type ServiceError } from "@grpc/grpc-js";
import { bridges } from "../src/bridge/index.js";
import { ValidationError } from "../src/contract/errors.js";
import { MAX_FREE_FORM_DEPTH } from "../src/contract/shape.js";
import { validateEventJson } from "../src/session/registry.js";
import { readArchive, type ArchiveDamage } from "../src/archive/index.js";
import { fieldViolations } from "../src/server/rich-error.js";
import {
  SessionEndEvent as EndMessage,
  SessionStartEvent as StartMessage,
} from "../gen/oneiric/session/v1/session_events.js";
import { VrpEvent as VrpMessage } from "../gen/vrp/v1alpha1/vrp_event.js";
import { LogEntry } from "../gen/sessionevents/log/v1/log_entry.js";
import { StreamEventsRequest } from "../gen/vrp/v1alpha1/vrp_service.js";
import { validEnd, validStart, validVrp } from "./support/fixtures.js";
import { writeSegmentFile } from "./support/archive-log.js";
import { call, clientFor, rejection, startTestServer } from "./support/collector.js";
import { describeAnswers, rawStream } from "./support/raw-stream.js";
import { tempDir } from "./support/repo.js";
import path from "node:path";

const LIMIT = MAX_FREE_FORM_DEPTH;

type Shape =
  | "objects, a string at the bottom"
  | "objects, an empty object at the bottom"
  | "arrays, an empty array at the bottom";
const SHAPES: Shape[] = [
  "objects, a string at the bottom",
  "objects, an empty object at the bottom",
  "arrays, an empty array at the bottom",
];

/**
 * A free-form object whose deepest value is at `level` (the field itself is
 * level 1), and the JSON Pointer of that deepest value below the field.
 */
function nested(shape: Shape, level: number): { value: Record<string, unknown>; deepest: string } {
  if (shape.startsWith("arrays")) {
    let inner: unknown = [];
    for (let l = level; l > 2; l--) inner = [inner];
    return { value: { a: inner }, deepest: `/a${"/0".repeat(level - 2)}` };
  }
  let inner: unknown = shape.endsWith("string at the bottom") ? "x" : {};
  const keys: string[] = [];
  for (let l = level; l > 1; l--) keys.unshift(`k${l}`);
  for (const key of [...keys].reverse().slice(0, -1)) inner = { [key]: inner };
  return { value: { [keys[0]!]: inner }, deepest: keys.map((k) => `/${k}`).join("") };
}

/** Events of each type carrying the nested value in their free-form field. */
const EVENTS = {
  SessionStartEvent: { field: "metadata", json: (v: Record<string, unknown>) => ({ ...validStart(), metadata: v }) },
  SessionEndEvent: { field: "metadata", json: (v: Record<string, unknown>) => ({ ...validEnd(), metadata: v }) },
  VrpEvent: { field: "details", json: (v: Record<string, unknown>) => ({ ...validVrp(), details: v }) },
} as const;
type EventType = keyof typeof EVENTS;

/** Protobuf bytes of an event, written by ts-proto (which checks nothing), so that one level too many can be sent. */
function rawBytes(type: EventType, value: Record<string, unknown>): Uint8Array {
  switch (type) {
    case "SessionStartEvent":
      return StartMessage.encode({ ...bridges.SessionStartEvent.fromJson(validStart()), metadata: value }).finish();
    case "SessionEndEvent":
      return EndMessage.encode({ ...bridges.SessionEndEvent.fromJson(validEnd()), metadata: value }).finish();
    case "VrpEvent":
      return VrpMessage.encode({ ...bridges.VrpEvent.fromJson(validVrp()), details: value }).finish();
  }
}

function issuesOf(fn: () => unknown): { path: string; rule: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ValidationError, String(e));
    return [...(e as ValidationError).issues];
  }
  throw new Error("expected a ValidationError");
}

/** Each path an event takes into the system, as a check that throws a ValidationError when it refuses. */
const LOCAL_PATHS: { name: string; run: (type: EventType, value: Record<string, unknown>) => unknown }[] = [
  {
    name: "validateJson (contract JSON)",
    run: (type, v) => validateEventJson(type, JSON.stringify(EVENTS[type].json(v))),
  },
  { name: "bridge toBinary", run: (type, v) => bridges[type].toBinary(EVENTS[type].json(v)) },
  { name: "bridge fromBinary", run: (type, v) => bridges[type].fromBinary(rawBytes(type, v)) },
];

for (const shape of SHAPES) {
  for (const type of Object.keys(EVENTS) as EventType[]) {
    for (const { name, run } of LOCAL_PATHS) {
      test(`${type} ${EVENTS[type].field}, ${shape}: ${name} takes ${LIMIT} levels and refuses ${LIMIT + 1}, naming the field`, () => {
        run(type, nested(shape, LIMIT).value);
        const { value, deepest } = nested(shape, LIMIT + 1);
        const issues = issuesOf(() => run(type, value));
        assert.equal(
          issues.map((i) => [i.path, i.rule]),
          [[`/${EVENTS[type].field}${deepest}`, "max_depth"]],
        );
        assert.match(issues[0]!.message, `nests deeper than ${LIMIT} levels`);
      });
    }
  }
}

test(`toBinary's bytes at ${LIMIT} levels are read back by fromBinary, and inside a LogEntry by ts-proto itself`, () => {
  for (const shape of SHAPES) {
    for (const type of Object.keys(EVENTS) as EventType[]) {
      const json = EVENTS[type].json(nested(shape, LIMIT).value);
      const bytes = bridges[type].toBinary(json);
      assert.equal(bridges[type].fromBinary(bytes), bridges[type].toJson(bridges[type].fromJson(json) as never));
      // The deepest carrier of an event: LogEntry -> SessionStarted / VrpReceived -> the event.
      const entry =
        type === "VrpEvent"
          ? LogEntry.encode({
              receivedAt: undefined,
              entry: {
                $case: "vrpReceived",
                value: { event: VrpMessage.decode(bytes), producerId: "", producerSequence: 0n },
              },
            }).finish()
          : type === "SessionStartEvent"
            ? LogEntry.encode({
                receivedAt: undefined,
                entry: { $case: "sessionStarted", value: { sessionId: "s", event: StartMessage.decode(bytes) } },
              }).finish()
            : LogEntry.encode({
                receivedAt: undefined,
                entry: { $case: "sessionEnded", value: { sessionId: "s", event: EndMessage.decode(bytes) } },
              }).finish();
      assert.ok(LogEntry.decode(entry).entry, `${type}, ${shape}`);
    }
  }
});

test(`archives: a LogEntry at ${LIMIT} levels is read; at ${LIMIT + 1} it is damage naming the field and the rule`, async () => {
  const dir = tempDir();
  const file = path.join(dir, "log.seg");
  const entry = (level: number) =>
    LogEntry.encode({
      receivedAt: undefined,
      entry: {
        $case: "sessionStarted",
        value: {
          sessionId: "s",
          event: { ...bridges.SessionStartEvent.fromJson(validStart()), metadata: nested(SHAPES[1]!, level).value },
        },
      },
    }).finish();
  writeSegmentFile(file, [entry(LIMIT), entry(LIMIT + 1)]);
  const damage: ArchiveDamage[] = [];
  const events = [];
  for await (const e of readArchive(file, { onDamage: (d) => damage.push(d) })) events.push(e);
  assert.is(events.length, 1);
  assert.is(damage.length, 1);
  assert.equal(
    damage[0]!.issues?.map((i) => [i.path, i.rule]),
    [[`/session_started/event/metadata${nested(SHAPES[1]!, LIMIT + 1).deepest}`, "max_depth"]],
  );
});

test("gRPC EmitSessionStart / EmitSessionEnd: the limit passes, one more is INVALID_ARGUMENT naming the field", async () => {
  const server = await startTestServer();
  const client = clientFor(server.target);
  try {
    for (const shape of SHAPES) {
      const start = (level: number, id: string) => ({
        event: {
          ...bridges.SessionStartEvent.fromJson({ ...validStart(), event_id: id }),
          metadata: nested(shape, level).value,
        },
      });
      const ok = await call<unknown, { sessionId: string; status: string }>(
        client,
        "emitSessionStart",
        start(LIMIT, crypto.randomUUID()),
      );
      assert.is(ok.status, "created");
      const end = (level: number) => ({
        event: {
          ...bridges.SessionEndEvent.fromJson({ ...validEnd(), session_id: ok.sessionId }),
          metadata: nested(shape, level).value,
        },
      });

      for (const [method, request] of [
        ["emitSessionStart", start(LIMIT + 1, crypto.randomUUID())],
        ["emitSessionEnd", end(LIMIT + 1)],
      ] as const) {
        const e: ServiceError = await rejection(call(client, method, request));
        assert.is(e.code, status.INVALID_ARGUMENT, `${method}: ${e.details}`);
        const deepest = nested(shape, LIMIT + 1)
          .deepest.slice(1)
          .split("/");
        const field = ["event", "metadata", ...deepest].reduce((p, s) =>
          /^\d+$/.test(s) ? `${p}[${s}]` : `${p}.${s}`,
        );
        assert.equal(
          fieldViolations(e).map((v) => [v.field, v.reason]),
          [[field, "MAX_DEPTH"]],
          e.details,
        );
        assert.match(e.details, "[max_depth]");
      }
      assert.is((await call<unknown, { status: string }>(client, "emitSessionEnd", end(LIMIT))).status, "ended");
    }
  } finally {
    client.close();
    await server.shutdown(0);
  }
});

test("gRPC StreamEvents: details at the limit are acknowledged, one more is a Rejection naming the field; the stream goes on", async () => {
  const server = await startTestServer();
  try {
    let t = 1_760_000_000_000;
    const event = (details: Record<string, unknown>) =>
      StreamEventsRequest.fromPartial({
        event: { ...bridges.VrpEvent.fromJson({ ...validVrp(), ts_ms: t++, event_type: "MUTATION_TICK" }), details },
      });
    const requests = SHAPES.flatMap((shape) => [
      event(nested(shape, LIMIT).value),
      event(nested(shape, LIMIT + 1).value),
    ]);
    const answers = describeAnswers(await rawStream(server.target, requests));
    assert.is(answers.length, requests.length, answers.join("\n"));
    SHAPES.forEach((shape, i) => {
      assert.is(answers[2 * i], "ack", `${shape}: ${answers[2 * i]}`);
      const rejected = answers[2 * i + 1]!;
      assert.ok(rejected.startsWith(`rejected #${2 * i + 1}: `), rejected);
      assert.ok(
        rejected.includes(`/event/details${nested(shape, LIMIT + 1).deepest}: nests deeper than ${LIMIT} levels`),
        rejected,
      );
      assert.ok(rejected.includes("[max_depth]"), rejected);
    });
  } finally {
    await server.shutdown(0);
  }
});

test.run();
