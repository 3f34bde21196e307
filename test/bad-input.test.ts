/**
 * The bad-input catalogue of the contract issue: every invalid example in the
 * seeds and the usual suspects get a clear error naming the field and the
 * rule; nothing crashes; nothing pollutes a prototype; hostile shapes (smuggled
 * prototypes in Structs, non-minimal encodings, class instances, getters that
 * throw, lone surrogates) are refused by the bridge and the models alike.
 */
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SessionEndEvent, SessionStartEvent } from "../src/session/models.js";
import { validateEventJson } from "../src/session/registry.js";
import { ValidationError } from "../src/contract/errors.js";
import { bridges } from "../src/bridge/index.js";
import { formatTimestamp, parseTimestamp } from "../src/contract/timestamp.js";
import { SessionEndEvent as EndMessage } from "../gen/oneiric/session/v1/session_events.js";
import { VrpEvent as VrpMessage } from "../gen/vrp/v1alpha1/vrp_event.js";
import { Struct } from "../gen/google/protobuf/struct.js";
import { validEnd, validStart, validVrp } from "./support/fixtures.js";
import { seedExamples } from "./support/seed.js";

type Expect = { path: string; rule: string; message?: RegExp };
type Case = [name: string, model: string, input: unknown, expected: Expect[]];

/** A valid event as the mutators below see it: untyped, since they write wrong types on purpose. */
// biome-ignore lint/suspicious/noExplicitAny: the invalid inputs under test are ill-typed by design
type Loose = any;

const start = (patch: (e: Loose) => void) => {
  const e: Loose = validStart();
  patch(e);
  return e;
};
const end = (patch: (e: Loose) => void) => {
  const e: Loose = validEnd();
  patch(e);
  return e;
};
const vrp = (patch: (e: Loose) => void) => {
  const e: Loose = validVrp();
  patch(e);
  return e;
};
const long = (n: number) => "x".repeat(n);

const cases: Case[] = [
  // The seed's own invalid examples.
  [
    "seed: SessionEndEvent with second 67",
    "SessionEndEvent",
    seedExamples().endWithSecond67,
    [{ path: "/timestamp", rule: "format", message: /RFC 3339/ }],
  ],
  [
    "seed: version 2.0",
    "SessionStartEvent",
    start((e) => (e.event_version = "2.0")),
    [
      {
        path: "/event_version",
        rule: "event_version",
        message: /^Unsupported event version: 2\.0 \(expected '1\.0'\)$/,
      },
    ],
  ],
  [
    "seed: component name with a space",
    "SessionStartEvent",
    start((e) => (e.component_name = "my component")),
    [{ path: "/component_name", rule: "pattern" }],
  ],
  [
    "seed: component name with a dot",
    "SessionStartEvent",
    start((e) => (e.component_name = "my.component")),
    [{ path: "/component_name", rule: "pattern" }],
  ],
  [
    "seed: component name with $",
    "SessionStartEvent",
    start((e) => (e.component_name = "my$component")),
    [{ path: "/component_name", rule: "pattern" }],
  ],
  [
    "seed: a date without a time",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-06")),
    [{ path: "/timestamp", rule: "format" }],
  ],
  // Versions.
  [
    "version 1.0.0",
    "SessionStartEvent",
    start((e) => (e.event_version = "1.0.0")),
    [
      {
        path: "/event_version",
        rule: "event_version",
        message: /Unsupported event version: 1\.0\.0 \(expected '1\.0'\)/,
      },
    ],
  ],
  [
    "version as a number",
    "SessionStartEvent",
    start((e) => (e.event_version = 1)),
    [
      { path: "/event_version", rule: "event_version" },
      { path: "/event_version", rule: "type" },
    ],
  ],
  [
    "version missing",
    "SessionStartEvent",
    start((e) => delete e.event_version),
    [{ path: "/event_version", rule: "required" }],
  ],
  [
    "end event version 2.0",
    "SessionEndEvent",
    end((e) => (e.event_version = "2.0")),
    [{ path: "/event_version", rule: "event_version" }],
  ],
  // pid.
  ["pid 0", "SessionStartEvent", start((e) => (e.pid = 0)), [{ path: "/pid", rule: "minimum" }]],
  ["pid 4194305", "SessionStartEvent", start((e) => (e.pid = 4194305)), [{ path: "/pid", rule: "maximum" }]],
  ["pid 1.5", "SessionStartEvent", start((e) => (e.pid = 1.5)), [{ path: "/pid", rule: "type" }]],
  ["pid as a string", "SessionStartEvent", start((e) => (e.pid = "12345")), [{ path: "/pid", rule: "type" }]],
  // Component names.
  [
    "component name with a slash",
    "SessionStartEvent",
    start((e) => (e.component_name = "my/component")),
    [{ path: "/component_name", rule: "pattern" }],
  ],
  [
    "empty component name",
    "SessionStartEvent",
    start((e) => (e.component_name = "")),
    [{ path: "/component_name", rule: "pattern" }],
  ],
  // Timestamps.
  [
    "second 67",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-06T13:45:67.890Z")),
    [{ path: "/timestamp", rule: "format" }],
  ],
  [
    "no offset",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-06T12:34:56")),
    [{ path: "/timestamp", rule: "format" }],
  ],
  [
    "an offset without a colon (not RFC 3339)",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-06T12:34:56+0100")),
    [{ path: "/timestamp", rule: "format" }],
  ],
  [
    "an offset without minutes (not RFC 3339)",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-06T12:34:56+01")),
    [{ path: "/timestamp", rule: "format" }],
  ],
  [
    "a space as the separator (RFC 3339 requires T)",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-06 12:34:56Z")),
    [{ path: "/timestamp", rule: "format", message: /"T" \(or "t"\) must separate the date and the time, not " "/ }],
  ],
  [
    "a space as the separator, end event",
    "SessionEndEvent",
    end((e) => (e.timestamp = "2026-02-06 12:34:56.789+01:00")),
    [{ path: "/timestamp", rule: "format", message: /not " "/ }],
  ],
  [
    "a tab as the separator",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-06\t12:34:56Z")),
    [{ path: "/timestamp", rule: "format" }],
  ],
  [
    "February 30",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-30T12:34:56Z")),
    [{ path: "/timestamp", rule: "format" }],
  ],
  [
    "February 29 in a common year",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-29T12:34:56Z")),
    [{ path: "/timestamp", rule: "format" }],
  ],
  [
    "hour 24",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-06T24:00:00Z")),
    [{ path: "/timestamp", rule: "format" }],
  ],
  [
    "offset hour 24",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-06T12:00:00+24:00")),
    [{ path: "/timestamp", rule: "format" }],
  ],
  [
    "leap second not at 23:59 UTC",
    "SessionStartEvent",
    start((e) => (e.timestamp = "2026-02-06T12:34:60Z")),
    [{ path: "/timestamp", rule: "format" }],
  ],
  [
    "year 0 (outside Timestamp)",
    "SessionStartEvent",
    start((e) => (e.timestamp = "0000-06-01T00:00:00Z")),
    [{ path: "/timestamp", rule: "timestamp_range" }],
  ],
  [
    "timestamp as a number",
    "SessionEndEvent",
    end((e) => (e.timestamp = 1700000000)),
    [{ path: "/timestamp", rule: "type" }],
  ],
  // Identifiers and limits.
  [
    "non-UUID event_id",
    "SessionStartEvent",
    start((e) => (e.event_id = "not-a-uuid")),
    [{ path: "/event_id", rule: "format" }],
  ],
  [
    "UUID without dashes",
    "SessionStartEvent",
    start((e) => (e.event_id = "550e8400e29b41d4a716446655440000")),
    [{ path: "/event_id", rule: "format" }],
  ],
  [
    "username of 101 characters",
    "SessionStartEvent",
    start((e) => (e.user.username = long(101))),
    [{ path: "/user/username", rule: "maxLength" }],
  ],
  [
    "home of 501 characters",
    "SessionStartEvent",
    start((e) => (e.user.home = long(501))),
    [{ path: "/user/home", rule: "maxLength" }],
  ],
  [
    "cwd of 501 characters",
    "SessionStartEvent",
    start((e) => (e.environment.cwd = long(501))),
    [{ path: "/environment/cwd", rule: "maxLength" }],
  ],
  [
    "wrong event_type",
    "SessionStartEvent",
    start((e) => (e.event_type = "session_end")),
    [{ path: "/event_type", rule: "const", message: /"session_start"/ }],
  ],
  // Wrong JSON types and shapes.
  ["user as a string", "SessionStartEvent", start((e) => (e.user = "john")), [{ path: "/user", rule: "type" }]],
  [
    "environment null",
    "SessionStartEvent",
    start((e) => (e.environment = null)),
    [{ path: "/environment", rule: "type" }],
  ],
  [
    "user missing a field",
    "SessionStartEvent",
    start((e) => delete e.user.home),
    [{ path: "/user/home", rule: "required" }],
  ],
  [
    "metadata as an array",
    "SessionStartEvent",
    start((e) => (e.metadata = [1, 2])),
    [{ path: "/metadata", rule: "type" }],
  ],
  [
    "session_id as a number",
    "SessionEndEvent",
    end((e) => (e.session_id = 42)),
    [{ path: "/session_id", rule: "type" }],
  ],
  [
    "session_id missing",
    "SessionEndEvent",
    end((e) => delete e.session_id),
    [{ path: "/session_id", rule: "required" }],
  ],
  [
    "an unknown top-level field",
    "SessionStartEvent",
    start((e) => (e.colour = "red")),
    [{ path: "/colour", rule: "unknown_property" }],
  ],
  [
    "an unknown field in user",
    "SessionStartEvent",
    start((e) => (e.user.uid = 0)),
    [{ path: "/user/uid", rule: "unknown_property" }],
  ],
  // Not JSON objects at all.
  [
    "malformed JSON",
    "SessionStartEvent",
    '{"event_version": "1.0",',
    [{ path: "", rule: "json", message: /malformed JSON/ }],
  ],
  ["an array", "SessionStartEvent", [validStart()], [{ path: "", rule: "type" }]],
  ["null", "SessionStartEvent", null, [{ path: "", rule: "type" }]],
  ["JSON null text", "SessionEndEvent", "null", [{ path: "", rule: "type" }]],
  ["a number", "SessionEndEvent", 42, [{ path: "", rule: "type" }]],
  ["empty text", "SessionEndEvent", "", [{ path: "", rule: "json" }]],
  // Prototype pollution.
  [
    "__proto__ in metadata (JSON text)",
    "SessionStartEvent",
    JSON.stringify(validStart()).replace('"custom":"data"', '"__proto__":{"polluted":true}'),
    [{ path: "/metadata/__proto__", rule: "forbidden_key" }],
  ],
  [
    "constructor in metadata",
    "SessionEndEvent",
    end((e) => (e.metadata = { constructor: { prototype: { polluted: true } } })),
    [{ path: "/metadata/constructor", rule: "forbidden_key" }],
  ],
  [
    "nested __proto__ in metadata",
    "SessionEndEvent",
    '{"session_id":"s","timestamp":"2026-02-06T13:45:07Z","metadata":{"a":[{"__proto__":{"polluted":true}}]}}',
    [{ path: "/metadata/a/0/__proto__", rule: "forbidden_key" }],
  ],
  [
    "prototype key in details",
    "VrpEvent",
    vrp((e) => (e.details = { prototype: 1 })),
    [{ path: "/details/prototype", rule: "forbidden_key" }],
  ],
  // Free-form values that are not JSON.
  [
    "NaN in metadata",
    "SessionEndEvent",
    end((e) => (e.metadata = { x: Number.NaN })),
    [{ path: "/metadata/x", rule: "json_value" }],
  ],
  [
    "a Date in metadata",
    "SessionEndEvent",
    end((e) => (e.metadata = { when: new Date(0) })),
    [{ path: "/metadata/when", rule: "json_value" }],
  ],
  [
    "a bigint in metadata",
    "SessionEndEvent",
    end((e) => (e.metadata = { n: 1n })),
    [{ path: "/metadata/n", rule: "json_value" }],
  ],
  [
    "a cycle in metadata",
    "SessionEndEvent",
    end((e) => ((e.metadata = { a: {} }), (e.metadata.a.self = e.metadata))),
    [{ path: "", rule: "max_depth" }],
  ],
  // VRP envelope.
  ["VRP ts_ms as a string", "VrpEvent", vrp((e) => (e.ts_ms = "1700000000000")), [{ path: "/ts_ms", rule: "type" }]],
  ["VRP ts_ms fractional", "VrpEvent", vrp((e) => (e.ts_ms = 1.5)), [{ path: "/ts_ms", rule: "type" }]],
  ["VRP ts_ms negative", "VrpEvent", vrp((e) => (e.ts_ms = -1)), [{ path: "/ts_ms", rule: "minimum" }]],
  ["VRP ts_ms above 2^53-1", "VrpEvent", vrp((e) => (e.ts_ms = 2 ** 53)), [{ path: "/ts_ms", rule: "maximum" }]],
  ["VRP empty event_type", "VrpEvent", vrp((e) => (e.event_type = "")), [{ path: "/event_type", rule: "minLength" }]],
  ["VRP missing session_id", "VrpEvent", vrp((e) => delete e.session_id), [{ path: "/session_id", rule: "required" }]],
  [
    "VRP unknown envelope key",
    "VrpEvent",
    vrp((e) => (e.state = "BIRTH")),
    [{ path: "/state", rule: "additionalProperties" }],
  ],
  ["VRP details as an array", "VrpEvent", vrp((e) => (e.details = [])), [{ path: "/details", rule: "type" }]],
];

for (const [name, model, input, expected] of cases) {
  test(`refuses ${name}`, () => {
    let error: unknown;
    try {
      validateEventJson(model, input);
    } catch (e) {
      error = e;
    }
    assert.instance(error, ValidationError, "a ValidationError");
    const v = error as ValidationError;
    for (const want of expected) {
      const hit = v.issues.find((i) => (want.path === "" ? true : i.path === want.path) && i.rule === want.rule);
      assert.ok(hit, `expected ${want.rule} at "${want.path}" in:\n${v.message}`);
      if (want.message) assert.match(hit!.message, want.message);
      // The message a human reads names the field and the rule.
      assert.ok(
        v.message.includes(`${want.path === "" ? hit!.path || "/" : want.path}:`) &&
          v.message.includes(`[${want.rule}]`),
        v.message,
      );
    }
  });
}

test("every problem is listed at once, each with its path", () => {
  const [, error] = SessionStartEvent.validateJsonSafe(
    start((e) => {
      e.pid = 0;
      e.component_name = "a b";
      e.event_id = "nope";
      delete e.hostname;
    }),
  );
  assert.equal(error!.issues.map((i) => i.path).sort(), ["/component_name", "/event_id", "/hostname", "/pid"]);
});

test("validateJsonSafe never throws, whatever it is given", () => {
  const hostile = [
    undefined,
    Symbol("x"),
    () => 1,
    10n,
    "{",
    "[]",
    Object.create(null),
    {
      get event_version() {
        throw new Error("boom");
      },
    },
    new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("trap");
        },
      },
    ),
  ];
  for (const input of hostile) {
    const result = SessionStartEvent.validateJsonSafe(input);
    assert.is(result[0], null);
    assert.instance(result[1], ValidationError);
  }
});

test("nothing above polluted Object.prototype", () => {
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.is((Object.prototype as Record<string, unknown>).polluted, undefined);
});

test("a lower-case t separator is RFC 3339 and passes, in every model that has a timestamp", () => {
  assert.is(
    SessionStartEvent.validateJson(start((e) => (e.timestamp = "2026-02-06t12:34:56.789z"))).timestamp,
    "2026-02-06t12:34:56.789z",
  );
  assert.is(
    SessionEndEvent.validateJson(end((e) => (e.timestamp = "2026-02-06t12:34:56+05:30"))).timestamp,
    "2026-02-06t12:34:56+05:30",
  );
});

test("valid events pass: the seed's start example, an end without a version, an unknown VRP type", () => {
  assert.is(SessionStartEvent.validateJson(seedExamples().validStart).event_id, "550e8400-e29b-41d4-a716-446655440000");
  assert.is(SessionEndEvent.validateJson(validEnd()).session_id, "sess_abc123");
  assert.is(
    (
      validateEventJson(
        "VrpEvent",
        vrp((e) => (e.event_type = "PATH_PROBED")),
      ) as { event_type: string }
    ).event_type,
    "PATH_PROBED",
  );
});

// Ways in found open once (a review of the contract foundation), each closed since.

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
  assert.equal(
    issues(() => bridges.SessionEndEvent.toJson(decoded)),
    [["/metadata/__proto__", "forbidden_key"]],
  );
});

test("a __proto__ key in a non-minimal encoding is still found", () => {
  // session_id "s"; timestamp; metadata { fields { key (length written 0x89 0x00) "__proto__", value { struct_value {} } } }
  const bytes = Buffer.from("1201731a060880f2d6ca06221a0a180a89005f5f70726f746f5f5f120a1a08706f6c6c75746564", "hex");
  assert.equal(
    issues(() => bridges.SessionEndEvent.fromBinary(bytes)),
    [["/metadata/__proto__", "forbidden_key"]],
  );
});

test("class instances, Maps, Dates and inherited fields are refused, not passed or dropped", () => {
  class Event {
    constructor(o: object) {
      Object.assign(this, o);
    }
  }
  assert.equal(
    issues(() => SessionEndEvent.validateJson(new Event(validEnd()))),
    [["", "type"]],
  );
  // Inherited fields: ajv would read them; the object is refused as a whole.
  assert.ok(
    issues(() => SessionEndEvent.validateJson(Object.create(validEnd()))).some(([p, r]) => p === "" && r === "type"),
  );
  assert.equal(
    issues(() => bridges.SessionEndEvent.toBinary({ ...validEnd(), metadata: new Map([["k", 1]]) })),
    [["/metadata", "json_value"]],
  );
  assert.equal(
    issues(() => SessionEndEvent.validateJson({ ...validEnd(), metadata: { when: new Date() } })),
    [["/metadata/when", "json_value"]],
  );
  assert.equal(
    issues(() => SessionStartEvent.validateJson({ ...validStart(), user: new Event({ username: "a", home: "/" }) })),
    [["/user", "type"]],
  );
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
  assert.equal(
    issues(() => bridges.VrpEvent.toBinary(tricky)),
    [["", "input"]],
  );
  const clean = { ts_ms: 2, event_type: "B", session_id: "innocent" };
  assert.equal(bridges.VrpEvent.fromBinary(bridges.VrpEvent.toBinary(clean)), clean);
});

test("toJson refuses wrongly typed fields of a hand-built message instead of defaulting them", () => {
  const message = bridges.SessionStartEvent.fromJson(validStart());
  assert.equal(
    issues(() => bridges.SessionStartEvent.toJson({ ...message, user: "alice" as never })),
    [["/user", "type"]],
  );
  assert.equal(
    issues(() =>
      bridges.SessionStartEvent.toJson({ ...message, timestamp: { seconds: "1700000000" as never, nanos: 0 } }),
    ),
    [["/timestamp", "type"]],
  );
  assert.equal(
    issues(() => bridges.VrpEvent.toJson({ ...bridges.VrpEvent.fromJson(validVrp()), tsMs: "1" as never })),
    [["/ts_ms", "type"]],
  );
});

test("strings must be well-formed Unicode; bytes must be UTF-8", () => {
  assert.equal(
    issues(() => bridges.SessionEndEvent.toBinary({ ...validEnd(), session_id: "\ud800" })),
    [["/session_id", "unicode"]],
  );
  const found = issues(() =>
    SessionEndEvent.validateJson({ ...validEnd(), metadata: { "\udc00": 1, ok: ["\ud800"] } }),
  );
  assert.equal(new Set(found.map((f) => f.join(" "))), new Set(["/metadata/\udc00 unicode", "/metadata/ok/0 unicode"]));
  const bytes = Buffer.from(
    VrpMessage.encode(VrpMessage.fromPartial({ tsMs: 1n, eventType: "E", sessionId: "ab" })).finish(),
  );
  bytes[bytes.indexOf(Buffer.from("ab"))] = 0xff;
  assert.equal(
    issues(() => bridges.VrpEvent.fromBinary(bytes)),
    [["", "protobuf"]],
  );
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
  assert.equal(
    issues(() =>
      SessionStartEvent.validateJson({ ...validStart(), event_id: "urn:uuid:550e8400-e29b-41d4-a716-446655440000" }),
    ),
    [["/event_id", "format"]],
  );
});

test("a hole in a metadata array is named", () => {
  // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
  const holed = [1, , 3];
  assert.equal(
    issues(() => SessionEndEvent.validateJson({ ...validEnd(), metadata: { a: holed } })),
    [["/metadata/a/1", "json_value"]],
  );
});

test("fromBinary of something that is not bytes is a clear type error", () => {
  assert.equal(
    issues(() => bridges.VrpEvent.fromBinary([8, 1] as never)),
    [["", "type"]],
  );
});

test("create() writes canonical timestamps, which round-trip unchanged (also at .000)", () => {
  for (let i = 0; i < 50; i++) {
    const t = SessionEndEvent.create({ sessionId: "s" }).timestamp;
    assert.is(formatTimestamp(parseTimestamp(t)), t);
  }
  const whole = { ...validEnd(), timestamp: formatTimestamp(parseTimestamp("2026-02-06T12:00:00.000Z")) };
  assert.equal(bridges.SessionEndEvent.fromBinary(bridges.SessionEndEvent.toBinary(whole)), whole);
});

test.run();
