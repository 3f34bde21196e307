/** The bridge's specific promises, one by one. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { ValidationError } from "../src/contract/errors.js";
import {
  SessionEndEvent as EndMessage,
  SessionStartEvent as StartMessage,
} from "../gen/oneiric/session/v1/session_events.js";
import { VrpEvent as VrpMessage } from "../gen/vrp/v1alpha1/vrp_event.js";
import { Struct } from "../gen/google/protobuf/struct.js";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { validEnd, validStart, validVrp } from "./support/fixtures.js";

function issuesOf(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ValidationError);
    return (e as ValidationError).issues;
  }
  throw new Error("expected a ValidationError");
}

test("contract JSON uses the schema's snake_case names, not ts-proto's camelCase", () => {
  const message = bridges.SessionStartEvent.fromJson(validStart());
  assert.is(message.componentName, "mahavishnu");
  assert.is(message.environment!.pythonVersion, "3.13.0");
  const json = bridges.SessionStartEvent.toJson(message);
  assert.equal(Object.keys(json), Object.keys(validStart()));
  assert.ok(!JSON.stringify(json).includes("componentName"));
});

test("ts_ms is an int64 on the wire and a JSON number in contract JSON", () => {
  const message = bridges.VrpEvent.fromJson(validVrp());
  assert.is(message.tsMs, 1700000000000n);
  const json = bridges.VrpEvent.toJson(message);
  assert.is(json.ts_ms, 1700000000000);
  assert.is(typeof json.ts_ms, "number");
});

test("ts_ms beyond 2^53-1 on the wire is refused with a clear error, not rounded", () => {
  const bytes = VrpMessage.encode(
    VrpMessage.fromPartial({ ...bridges.VrpEvent.fromJson(validVrp()), tsMs: 2n ** 53n }),
  ).finish();
  const issues = issuesOf(() => bridges.VrpEvent.fromBinary(bytes));
  assert.equal(
    issues.map((i) => [i.path, i.rule]),
    [["/ts_ms", "int64_range"]],
  );
  assert.match(issues[0]!.message, /2\^53-1/);
});

test("a negative int64 on the wire is refused by the schema's minimum", () => {
  const bytes = VrpMessage.encode(
    VrpMessage.fromPartial({ ...bridges.VrpEvent.fromJson(validVrp()), tsMs: -5n }),
  ).finish();
  assert.equal(
    issuesOf(() => bridges.VrpEvent.fromBinary(bytes)).map((i) => i.rule),
    ["minimum"],
  );
});

test("absent optional fields stay absent; present ones survive, even when empty", () => {
  const bare = { ts_ms: 0, event_type: "X", session_id: "s" };
  assert.equal(bridges.VrpEvent.fromBinary(bridges.VrpEvent.toBinary(bare)), bare);
  const withEmpty = { ...bare, details: {} };
  assert.equal(bridges.VrpEvent.fromBinary(bridges.VrpEvent.toBinary(withEmpty)), withEmpty);
  const end = { session_id: "s", timestamp: "2026-02-06T13:45:07Z" };
  assert.equal(bridges.SessionEndEvent.fromBinary(bridges.SessionEndEvent.toBinary(end)), end);
});

test("unknown event types pass through unchanged", () => {
  const e = { ...validVrp(), event_type: "QUANTUM_ENTANGLEMENT_OBSERVED", reason_code: "NEW_REASON" };
  assert.equal(bridges.VrpEvent.fromBinary(bridges.VrpEvent.toBinary(e)), e);
});

test("metadata keeps JSON types; Struct numbers are doubles", () => {
  const metadata = {
    s: "x",
    n: 3,
    f: 0.5,
    big: 2 ** 60,
    b: true,
    z: null,
    list: [1, "a", [null], { k: [] }],
    nested: { deep: { er: {} } },
  };
  const out = bridges.SessionEndEvent.fromBinary(bridges.SessionEndEvent.toBinary({ ...validEnd(), metadata }));
  assert.equal(out.metadata, metadata);
});

test("proto -> JSON validates: a message missing required parts names each", () => {
  const issues = issuesOf(() =>
    bridges.SessionStartEvent.toJson(StartMessage.fromPartial({ eventVersion: "1.0", pid: 0 })),
  );
  const got = issues.map((i) => `${i.path} ${i.rule}`);
  for (const want of [
    "/event_id format",
    "/component_name pattern",
    "/timestamp required",
    "/pid minimum",
    "/user required",
    "/environment required",
  ]) {
    assert.ok(got.includes(want), `${want} in ${JSON.stringify(got)}`);
  }
});

test("proto -> JSON refuses an unsupported version", () => {
  const message = { ...bridges.SessionStartEvent.fromJson(validStart()), eventVersion: "2.0" };
  const issues = issuesOf(() => bridges.SessionStartEvent.toJson(message));
  assert.is(issues[0]!.message, "Unsupported event version: 2.0 (expected '1.0')");
});

test("proto -> JSON refuses an invalid Timestamp", () => {
  const message = { ...bridges.SessionEndEvent.fromJson(validEnd()), timestamp: { seconds: 0n, nanos: 1_000_000_000 } };
  assert.equal(
    issuesOf(() => bridges.SessionEndEvent.toJson(message))
      .map((i) => [i.path, i.rule])
      .slice(0, 1),
    [["/timestamp", "timestamp_range"]],
  );
});

test("malformed bytes are a ValidationError, not a crash", () => {
  for (const bytes of [
    new Uint8Array([0xff, 0xff, 0xff]),
    new Uint8Array([0x0a, 0x10, 0x41]),
    new Uint8Array([0x32, 0x05, 0x08]),
  ]) {
    const issues = issuesOf(() => bridges.SessionStartEvent.fromBinary(bytes));
    assert.ok(
      issues.some((i) => i.rule === "protobuf" || i.rule === "required"),
      JSON.stringify(issues),
    );
  }
});

/** Encode an end event whose metadata Struct carries `key` -> `value`, as a foreign producer might. */
function endEventBytesWithMetadataKey(key: string, value: unknown): Uint8Array {
  // A computed key defines an own property, even for "__proto__".
  const writer = new BinaryWriter();
  writer.uint32(18).string("sess_1"); // session_id = 2
  writer.uint32(26).fork().uint32(8).int64(1770000000n).join(); // timestamp = 3
  Struct.encode(Struct.wrap({ [key]: value }), writer.uint32(34).fork()).join(); // metadata = 4
  return writer.finish();
}

test('a "__proto__" key arriving on the wire is refused, whatever its value', () => {
  for (const value of ["x", 1, null, true, { polluted: true }, [1]]) {
    const bytes = endEventBytesWithMetadataKey("__proto__", value);
    const issues = issuesOf(() => bridges.SessionEndEvent.fromBinary(bytes));
    assert.equal(
      issues.map((i) => [i.path, i.rule]),
      [["/metadata/__proto__", "forbidden_key"]],
    );
  }
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

test('a nested "__proto__" key on the wire is found where it is', () => {
  const writer = new BinaryWriter();
  writer.uint32(18).string("sess_1");
  writer.uint32(26).fork().uint32(8).int64(1770000000n).join();
  Struct.encode(Struct.wrap({ list: [1, { ok: true, ["__proto__"]: "x" }] }), writer.uint32(34).fork()).join();
  const issues = issuesOf(() => bridges.SessionEndEvent.fromBinary(writer.finish()));
  assert.equal(
    issues.map((i) => [i.path, i.rule]),
    [["/metadata/list/1/__proto__", "forbidden_key"]],
  );
});

test('the string "__proto__" outside a Struct key is an ordinary value', () => {
  const event = {
    ...validStart(),
    environment: { python_version: "__proto__", platform: "__proto__", cwd: "/" },
    shell_type: "__proto__",
    metadata: { k: "__proto__" },
  };
  assert.equal(bridges.SessionStartEvent.fromBinary(bridges.SessionStartEvent.toBinary(event)), event);
});

test('"constructor" and "prototype" keys arriving on the wire are refused', () => {
  for (const key of ["constructor", "prototype"]) {
    const issues = issuesOf(() => bridges.SessionEndEvent.fromBinary(endEventBytesWithMetadataKey(key, { a: 1 })));
    assert.equal(
      issues.map((i) => [i.path, i.rule]),
      [[`/metadata/${key}`, "forbidden_key"]],
    );
  }
});

test("fromJson returns a message grpc-js can serialise (complete, not a cast partial)", () => {
  const message = bridges.SessionEndEvent.fromJson(validEnd());
  assert.equal(EndMessage.fromPartial(message), message);
  assert.ok(EndMessage.encode(message).finish().length > 0);
});

test.run();
