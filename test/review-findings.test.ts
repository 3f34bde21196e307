/**
 * Regression tests for the findings of a fresh-eyes review of the contract
 * foundation: each names the way in that was found open.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { ValidationError } from "../src/contract/errors.js";
import { formatTimestamp, parseTimestamp } from "../src/contract/timestamp.js";
import { SessionEndEvent, SessionStartEvent } from "../src/session/models.js";
import { SessionEndEvent as EndMessage } from "../gen/oneiric/session/v1/session_events.js";
import { VrpEvent as VrpMessage } from "../gen/vrp/v1alpha1/vrp_event.js";
import { Struct } from "../gen/google/protobuf/struct.js";
import { validEnd, validStart, validVrp } from "./support/fixtures.js";
import { repoRoot } from "./support/repo.js";

function issues(fn: () => unknown): [string, string][] {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ValidationError, `threw ${String(e)}`);
    return (e as ValidationError).issues.map((i) => [i.path, i.rule]);
  }
  throw new Error("expected a ValidationError");
}

function endBytesWithMetadata(metadata: Record<string, unknown>): Uint8Array {
  const w = new BinaryWriter();
  w.uint32(18).string("s");
  w.uint32(26).fork().uint32(8).int64(1767225600n).join();
  Struct.encode(Struct.wrap(metadata), w.uint32(34).fork()).join();
  return w.finish();
}

test("a decoded message whose Struct smuggled a prototype is refused by toJson", () => {
  const decoded = EndMessage.decode(endBytesWithMetadata({ ["__proto__"]: { isAdmin: true } }));
  assert.equal(issues(() => bridges.SessionEndEvent.toJson(decoded)), [["/metadata/__proto__", "forbidden_key"]]);
});

test("a __proto__ key in a non-minimal encoding is still found", () => {
  // session_id "s"; timestamp; metadata { fields { key (length written 0x89 0x00) "__proto__", value { struct_value {} } } }
  const bytes = Buffer.from("1201731a060880f2d6ca06221a0a180a89005f5f70726f746f5f5f120a1a08706f6c6c75746564", "hex");
  assert.equal(issues(() => bridges.SessionEndEvent.fromBinary(bytes)), [["/metadata/__proto__", "forbidden_key"]]);
});

test("class instances, Maps, Dates and inherited fields are refused, not passed or dropped", () => {
  class Event {
    constructor(o: object) {
      Object.assign(this, o);
    }
  }
  assert.equal(issues(() => SessionEndEvent.validateJson(new Event(validEnd()))), [["", "type"]]);
  // Inherited fields: ajv would read them; the object is refused as a whole.
  assert.ok(issues(() => SessionEndEvent.validateJson(Object.create(validEnd()))).some(([p, r]) => p === "" && r === "type"));
  assert.equal(issues(() => bridges.SessionEndEvent.toBinary({ ...validEnd(), metadata: new Map([["k", 1]]) })), [["/metadata", "json_value"]]);
  assert.equal(issues(() => SessionEndEvent.validateJson({ ...validEnd(), metadata: { when: new Date() } })), [["/metadata/when", "json_value"]]);
  assert.equal(issues(() => SessionStartEvent.validateJson({ ...validStart(), user: new Event({ username: "a", home: "/" }) })), [["/user", "type"]]);
});

test("a failed encode does not leak into the next event", () => {
  let reads = 0;
  const tricky = {
    ...validVrp(),
    node_id: "leaked-node",
    get session_id() {
      if (++reads > 1) throw new Error("second read");
      return "s";
    },
  };
  assert.equal(issues(() => bridges.VrpEvent.toBinary(tricky)), [["", "input"]]);
  const clean = { ts_ms: 2, event_type: "B", session_id: "innocent" };
  assert.equal(bridges.VrpEvent.fromBinary(bridges.VrpEvent.toBinary(clean)), clean);
});

test("toJson refuses wrongly typed fields of a hand-built message instead of defaulting them", () => {
  const message = bridges.SessionStartEvent.fromJson(validStart());
  assert.equal(issues(() => bridges.SessionStartEvent.toJson({ ...message, user: "alice" as never })), [["/user", "type"]]);
  assert.equal(issues(() => bridges.SessionStartEvent.toJson({ ...message, timestamp: { seconds: "1700000000" as never, nanos: 0 } })), [["/timestamp", "type"]]);
  assert.equal(issues(() => bridges.VrpEvent.toJson({ ...bridges.VrpEvent.fromJson(validVrp()), tsMs: "1" as never })), [["/ts_ms", "type"]]);
});

test("strings must be well-formed Unicode; bytes must be UTF-8", () => {
  assert.equal(issues(() => bridges.SessionEndEvent.toBinary({ ...validEnd(), session_id: "\ud800" })), [["/session_id", "unicode"]]);
  const found = issues(() => SessionEndEvent.validateJson({ ...validEnd(), metadata: { "\udc00": 1, ok: ["\ud800"] } }));
  assert.equal(new Set(found.map((f) => f.join(" "))), new Set(["/metadata/\udc00 unicode", "/metadata/ok/0 unicode"]));
  const bytes = Buffer.from(VrpMessage.encode(VrpMessage.fromPartial({ tsMs: 1n, eventType: "E", sessionId: "ab" })).finish());
  bytes[bytes.indexOf(Buffer.from("ab"))] = 0xff;
  assert.equal(issues(() => bridges.VrpEvent.fromBinary(bytes)), [["", "protobuf"]]);
});

test("validateJsonSafe never throws, even for a thrown object that cannot become a string", () => {
  const input = {
    get session_id(): string {
      throw Object.create(null);
    },
  };
  const [event, error] = SessionEndEvent.validateJsonSafe(input);
  assert.is(event, null);
  assert.instance(error, ValidationError);
});

test("event_id must be the 36-character UUID string, not the urn: form", () => {
  assert.equal(issues(() => SessionStartEvent.validateJson({ ...validStart(), event_id: "urn:uuid:550e8400-e29b-41d4-a716-446655440000" })), [["/event_id", "format"]]);
});

test("a hole in a metadata array is named", () => {
  // eslint-disable-next-line no-sparse-arrays
  assert.equal(issues(() => SessionEndEvent.validateJson({ ...validEnd(), metadata: { a: [1, , 3] } })), [["/metadata/a/1", "json_value"]]);
});

test("fromBinary of something that is not bytes is a clear type error", () => {
  assert.equal(issues(() => bridges.VrpEvent.fromBinary([8, 1] as never)), [["", "type"]]);
});

test("create() writes canonical timestamps, which round-trip unchanged (also at .000)", () => {
  for (let i = 0; i < 50; i++) {
    const t = SessionEndEvent.create({ sessionId: "s" }).timestamp;
    assert.is(formatTimestamp(parseTimestamp(t)), t);
  }
  const whole = { ...validEnd(), timestamp: formatTimestamp(parseTimestamp("2026-02-06T12:00:00.000Z")) };
  assert.equal(bridges.SessionEndEvent.fromBinary(bridges.SessionEndEvent.toBinary(whole)), whole);
});

test("the package's bin runs the CLI", () => {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { bin: Record<string, string> };
  const r = spawnSync(process.execPath, [path.join(repoRoot, pkg.bin["session-events"]!), "schemas", "export"], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).SessionStartEvent);
});

test.run();
