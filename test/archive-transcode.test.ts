/**
 * Differential tests of export's fast path (src/archive/transcode.ts)
 * against the reference path (decodeRecord + formatLine), record by record:
 * wherever the fast path takes a record, its line must be byte-identical to
 * the reference path's and its summary the same; wherever the reference
 * path refuses a record (damage), the fast path must not take it. Over
 * generated events of every type and entry kind with the nasty values
 * (unicode, escapes, control characters, -0, huge and tiny doubles,
 * integer-like keys, empty and deep Structs, timestamp edges), over
 * hand-made wire bytes the collector never writes, and over mutated bytes.
 */
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  decodeRecord,
  encodeLogEntryWithGeneratedCode,
  encodeRecord,
  ENTRY_KINDS,
  LOG_ENTRY_KINDS,
  RecordError,
} from "../src/archive/codec.js";
import { EVENT_TYPES } from "../src/archive/event.js";
import { formatLine, parseLine, type LineLayout } from "../src/archive/lines.js";
import { messageOf } from "../src/archive/message-cache.js";
import { SummaryBuilder } from "../src/archive/summary.js";
import { transcoderFor } from "../src/archive/transcode.js";
import { MAX_FREE_FORM_DEPTH } from "../src/contract/shape.js";
import { encodeStruct } from "../src/bridge/codec.js";
import { LogEntry } from "../gen/sessionevents/log/v1/log_entry.js";
import { SessionEndEvent } from "../gen/oneiric/session/v1/session_events.js";
import { VrpEvent } from "../gen/vrp/v1alpha1/vrp_event.js";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { readFileSync } from "node:fs";
import * as arb from "./support/arbitraries.js";
import { logEntryBytes, type LoggedEvent } from "./support/archive-log.js";
import { repoRoot } from "./support/repo.js";

const LAYOUTS: readonly LineLayout[] = ["events", "records"];

type Outcome = { kind: "line"; line: string; summary: string } | { kind: "damage"; rule: string } | { kind: "none" };

function reference(bytes: Uint8Array, layout: LineLayout, sequence: bigint | undefined): Outcome {
  const tally = new SummaryBuilder();
  try {
    const event = decodeRecord(bytes, "LogEntry", { source: "t", index: 1, sequence });
    if (!event) return { kind: "none" };
    tally.event(event);
    return { kind: "line", line: `${formatLine(event, layout)}\n`, summary: JSON.stringify(tally.finish()) };
  } catch (e) {
    if (e instanceof RecordError) return { kind: "damage", rule: e.rule };
    throw e;
  }
}

function fast(
  bytes: Uint8Array,
  layout: LineLayout,
  sequence: bigint | undefined,
): { line: string; summary: string } | undefined {
  const tally = new SummaryBuilder();
  const transcoder = transcoderFor(layout);
  if (!transcoder.record(bytes, sequence, tally)) {
    assert.not.ok(transcoder.pending, "a record the fast path did not take leaves nothing behind");
    return undefined;
  }
  return { line: Buffer.from(transcoder.take()).toString("utf8"), summary: JSON.stringify(tally.finish()) };
}

/** Compares both paths on one record; returns whether the fast path took it. */
function compare(bytes: Uint8Array, sequence: bigint | undefined = 7n): boolean {
  let taken = false;
  for (const layout of LAYOUTS) {
    const ref = reference(bytes, layout, sequence);
    const got = fast(bytes, layout, sequence);
    if (!got) continue;
    taken = true;
    assert.is(
      ref.kind,
      "line",
      `the fast path took a record the reference path refuses (${JSON.stringify(ref)}): ${Buffer.from(bytes).toString("hex")}`,
    );
    if (ref.kind !== "line") continue;
    assert.is(got.line, ref.line, layout);
    assert.is(got.summary, ref.summary, `${layout}: summary`);
  }
  return taken;
}

// --- generated events with the nasty values ---------------------------------------

const nastyText = fc.oneof(
  arb.text({ maxLength: 20 }),
  fc.constantFrom(
    "",
    '"',
    "\\",
    "\u0000",
    "\u001f",
    "\u007f",
    "\b\t\n\f\r",
    "\u2028\u2029",
    "\uFEFFbom",
    "é",
    "日本語",
    "😀",
    "a\u0001b",
    "</script>",
  ),
);
const integerLikeKey = fc.constantFrom("0", "1", "10", "007", "4294967294", "4294967295", "-1", "1.5", "1e3", " 1");
const key = fc
  .oneof(nastyText, integerLikeKey)
  .filter((k) => k !== "__proto__" && k !== "constructor" && k !== "prototype");
const nastyNumber = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(
    -0,
    0,
    5e-324,
    -5e-324,
    1.7976931348623157e308,
    1e21,
    1e-7,
    123456789012345680000,
    0.1,
    2 ** 53,
    -(2 ** 53),
  ),
);
const freeValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    nastyNumber,
    nastyText,
    fc.array(tie("value"), { maxLength: 3 }),
    tie("object"),
  ),
  object: fc.dictionary(key, tie("value"), { maxKeys: 4, noNullPrototype: true }),
})).object as fc.Arbitrary<Record<string, unknown>>;

/** An object nested `levels` deep (the free-form field itself is level 1). */
function deep(levels: number, leaf: unknown = {}): Record<string, unknown> {
  let value: unknown = leaf;
  for (let i = 1; i < levels; i++) value = i % 2 ? { k: value } : [value];
  return (typeof value === "object" && value !== null && !Array.isArray(value) ? value : { k: value }) as Record<
    string,
    unknown
  >;
}
const freeObject = fc.oneof(
  { arbitrary: freeValue as fc.Arbitrary<Record<string, unknown>>, weight: 6 },
  {
    arbitrary: fc.constantFrom(
      {},
      deep(MAX_FREE_FORM_DEPTH - 1),
      deep(MAX_FREE_FORM_DEPTH),
      deep(MAX_FREE_FORM_DEPTH, 1),
      deep(MAX_FREE_FORM_DEPTH + 1),
    ),
    weight: 1,
  },
);

const timestampEdge = fc.constantFrom(
  "0001-01-01T00:00:00Z",
  "9999-12-31T23:59:59.999999999Z",
  "1970-01-01T00:00:00Z",
  "1969-12-31T23:59:59.999Z",
  "2026-02-06T12:00:00.000001Z",
  "2026-02-06T12:00:00.100Z",
  "2026-02-06T23:59:59.123456789Z",
);
const timestamp = fc.oneof(arb.canonicalTimestamp, timestampEdge);
const receivedAt = fc.option(timestamp, { nil: undefined });
const counter = fc.oneof(
  fc.constantFrom(0n, 1n, BigInt(Number.MAX_SAFE_INTEGER)),
  fc.bigInt({ min: 1n, max: BigInt(Number.MAX_SAFE_INTEGER) }),
);

const start = arb.sessionStartJson.chain((json) =>
  fc
    .record({
      shell_type: nastyText,
      hostname: nastyText,
      timestamp,
      metadata: fc.option(freeObject, { nil: undefined }),
    })
    .map((o) => {
      const out: Record<string, unknown> = {
        ...json,
        shell_type: o.shell_type,
        hostname: o.hostname,
        timestamp: o.timestamp,
      };
      if (o.metadata === undefined) delete out.metadata;
      else out.metadata = o.metadata;
      return out as never;
    }),
);
const end = arb.sessionEndJson.chain((json) =>
  fc.record({ session_id: nastyText, timestamp, metadata: fc.option(freeObject, { nil: undefined }) }).map((o) => {
    const out: Record<string, unknown> = { ...json, session_id: o.session_id, timestamp: o.timestamp };
    if (o.metadata === undefined) delete out.metadata;
    else out.metadata = o.metadata;
    return out as never;
  }),
);
const vrp = arb.vrpJson.chain((json) =>
  fc
    .record({
      details: fc.option(freeObject, { nil: undefined }),
      ts_ms: fc.oneof(fc.constantFrom(0, 999, 1000, Number.MAX_SAFE_INTEGER), fc.integer({ min: 0, max: 2 ** 45 })),
    })
    .map((o) => {
      const out: Record<string, unknown> = { ...json, ts_ms: o.ts_ms };
      if (o.details === undefined) delete out.details;
      else out.details = o.details;
      return out as never;
    }),
);

const loggedEvent: fc.Arbitrary<LoggedEvent> = fc.oneof(
  fc.record(
    { kind: fc.constant("session_started" as const), json: start, sessionId: nastyText, receivedAt },
    { requiredKeys: ["kind", "json", "sessionId"] },
  ),
  fc.record({ kind: fc.constant("session_ended" as const), json: end, receivedAt }, { requiredKeys: ["kind", "json"] }),
  fc.record(
    {
      kind: fc.constant("vrp_received" as const),
      json: vrp,
      producerId: nastyText,
      producerSequence: counter,
      receivedAt,
    },
    { requiredKeys: ["kind", "json"] },
  ),
  fc.record(
    { kind: fc.constant("vrp_derived" as const), json: vrp, causeSequence: counter, receivedAt },
    { requiredKeys: ["kind", "json", "causeSequence"] },
  ),
);

/** The event's bytes as the collector writes them, or undefined when the bridge refuses it (a deep Struct past the limit). */
function bytesOf(e: LoggedEvent): Uint8Array | undefined {
  try {
    return logEntryBytes(e);
  } catch {
    return undefined;
  }
}

test("generated events of every type and entry kind: the fast path's lines are the reference path's, byte for byte", () => {
  let taken = 0;
  let total = 0;
  fc.assert(
    fc.property(
      loggedEvent,
      fc.option(fc.bigInt({ min: 1n, max: BigInt(Number.MAX_SAFE_INTEGER) + 2n }), { nil: undefined }),
      (event, sequence) => {
        const bytes = bytesOf(event);
        if (!bytes) return;
        total++;
        if (compare(bytes, sequence)) taken++;
      },
    ),
    { numRuns: 600 },
  );
  // Not a vacuous pass: most of what the collector writes takes the fast path.
  assert.ok(taken > total * 0.5, `the fast path took ${taken} of ${total} records`);
});

test("mutated bytes: the fast path takes only what the reference path writes, and writes it the same", () => {
  fc.assert(
    fc.property(
      loggedEvent,
      fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom("set", "cut", "insert")), {
        minLength: 1,
        maxLength: 3,
      }),
      (event, mutations) => {
        const original = bytesOf(event);
        if (!original) return;
        let bytes = Buffer.from(original);
        for (const [where, value, how] of mutations) {
          const i = where % Math.max(1, bytes.length);
          if (how === "set") bytes[i] = value;
          else if (how === "cut") bytes = bytes.subarray(0, i);
          else bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([value]), bytes.subarray(i)]);
        }
        compare(bytes);
      },
    ),
    { numRuns: 1500 },
  );
});

// --- hand-made wire bytes ---------------------------------------------------------

const vrpEvent = () => VrpEvent.fromPartial({ tsMs: 1770379200000n, eventType: "PATH_SELECTED", sessionId: "s1" });
const entryWith = (eventBytes: Uint8Array, extra: (w: BinaryWriter) => void = () => {}) => {
  const wrapper = new BinaryWriter();
  wrapper.uint32((1 << 3) | 2).bytes(eventBytes);
  extra(wrapper);
  return new BinaryWriter()
    .uint32((4 << 3) | 2)
    .bytes(wrapper.finish())
    .finish();
};
const vrpBytes = (details?: Uint8Array, extra: (w: BinaryWriter) => void = () => {}) => {
  const w = new BinaryWriter();
  VrpEvent.encode(vrpEvent() as VrpEvent, w);
  if (details) w.uint32((6 << 3) | 2).bytes(details);
  extra(w);
  return w.finish();
};
/** A Struct's bytes from (key, Value bytes) entries, written by hand. */
const structOf = (...entries: [key: string | undefined, value: Uint8Array | undefined][]) => {
  const w = new BinaryWriter();
  for (const [key, value] of entries) {
    const entry = new BinaryWriter();
    if (key !== undefined) entry.uint32((1 << 3) | 2).string(key);
    if (value !== undefined) entry.uint32((2 << 3) | 2).bytes(value);
    w.uint32((1 << 3) | 2).bytes(entry.finish());
  }
  return w.finish();
};
const number = (n: number) =>
  new BinaryWriter()
    .uint32((2 << 3) | 1)
    .double(n)
    .finish();
const stringValue = (bytes: Uint8Array) => {
  const w = new BinaryWriter();
  w.uint32((3 << 3) | 2).bytes(bytes);
  return w.finish();
};

test("hand-made records the collector never writes: taken only where the reference path writes the same line", () => {
  const cases: Record<string, Uint8Array> = {
    plain: entryWith(vrpBytes(encodeStruct({ a: 1 }))),
    "integer-like key": entryWith(vrpBytes(structOf(["b", number(1)], ["1", number(2)]))),
    "repeated key": entryWith(vrpBytes(structOf(["a", number(1)], ["a", number(2)]))),
    "entry without a key": entryWith(vrpBytes(structOf([undefined, number(1)]))),
    "entry without a value": entryWith(vrpBytes(structOf(["a", undefined], ["b", number(1)]))),
    "empty Value": entryWith(vrpBytes(structOf(["a", new Uint8Array()]))),
    "Value of two kinds": entryWith(vrpBytes(structOf(["a", Buffer.concat([number(1), number(2)])]))),
    NaN: entryWith(vrpBytes(structOf(["a", number(NaN)]))),
    Infinity: entryWith(vrpBytes(structOf(["a", number(-Infinity)]))),
    "-0": entryWith(vrpBytes(structOf(["a", number(-0)]))),
    "__proto__ key": entryWith(vrpBytes(structOf(["__proto__", number(1)]))),
    "constructor key": entryWith(vrpBytes(structOf(["constructor", number(1)]))),
    "a lone surrogate as CESU-8 bytes": entryWith(
      vrpBytes(structOf(["a", stringValue(Buffer.from([0xed, 0xa0, 0x80]))])),
    ),
    "overlong UTF-8": entryWith(vrpBytes(structOf(["a", stringValue(Buffer.from([0xc0, 0xaf]))]))),
    "unknown field in the event": entryWith(vrpBytes(undefined, (w) => w.uint32((99 << 3) | 0).uint32(1))),
    "repeated field in the event": entryWith(vrpBytes(undefined, (w) => w.uint32((2 << 3) | 2).string("OTHER"))),
    "unknown field in the wrapper": entryWith(vrpBytes(), (w) => w.uint32((9 << 3) | 2).string("x")),
    "ts_ms past 2^53": entryWith(VrpEvent.encode({ ...(vrpEvent() as VrpEvent), tsMs: 2n ** 53n + 1n }).finish()),
    "negative ts_ms": entryWith(VrpEvent.encode({ ...(vrpEvent() as VrpEvent), tsMs: -1n }).finish()),
    "producer_sequence past 2^53": entryWith(vrpBytes(), (w) => w.uint32((3 << 3) | 0).uint64(2n ** 60n)),
    "empty event_type": entryWith(VrpEvent.encode({ ...(vrpEvent() as VrpEvent), eventType: "" }).finish()),
    "a policy entry": LogEntry.encode({
      receivedAt: undefined,
      entry: { $case: "vrpPolicyChanged", value: { maxRecoveryWindowMs: 5n, maxSwitchesPerMinute: 1 } },
    }).finish(),
    "no entry": LogEntry.encode({ receivedAt: { seconds: 1n, nanos: 0 }, entry: undefined }).finish(),
    "received_at out of range": LogEntry.encode({
      receivedAt: { seconds: 253402300800n, nanos: 0 },
      entry: { $case: "vrpReceived", value: { event: vrpEvent() as VrpEvent, producerId: "", producerSequence: 0n } },
    }).finish(),
    "received_at with negative nanos": LogEntry.encode({
      receivedAt: { seconds: 1n, nanos: -1 },
      entry: { $case: "vrpReceived", value: { event: vrpEvent() as VrpEvent, producerId: "", producerSequence: 0n } },
    }).finish(),
    "session end at the first instant": LogEntry.encode({
      receivedAt: undefined,
      entry: {
        $case: "sessionEnded",
        value: {
          sessionId: "s",
          event: SessionEndEvent.fromPartial({ sessionId: "s", timestamp: { seconds: -62135596800n, nanos: 0 } }),
        },
      },
    }).finish(),
    "session end past the last instant": LogEntry.encode({
      receivedAt: undefined,
      entry: {
        $case: "sessionEnded",
        value: {
          sessionId: "s",
          event: SessionEndEvent.fromPartial({ sessionId: "s", timestamp: { seconds: 253402300800n, nanos: 0 } }),
        },
      },
    }).finish(),
    "session end with a wrong version": LogEntry.encode({
      receivedAt: undefined,
      entry: {
        $case: "sessionEnded",
        value: {
          sessionId: "s",
          event: SessionEndEvent.fromPartial({
            sessionId: "s",
            eventVersion: "2.0",
            timestamp: { seconds: 1n, nanos: 0 },
          }),
        },
      },
    }).finish(),
  };
  const taken: string[] = [];
  for (const [name, bytes] of Object.entries(cases)) {
    try {
      if (compare(bytes)) taken.push(name);
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
    if (compare(bytes, 2n ** 53n)) taken.push(`${name} (sequence past 2^53)`);
  }
  // What the fast path takes of these: only what it writes exactly as the reference path.
  assert.equal(taken.sort(), ["-0", "entry without a key", "plain", "session end at the first instant"].sort());
});

test("import: every generated line becomes the bytes the generated encoder writes, in both layouts and as bare messages", () => {
  fc.assert(
    fc.property(loggedEvent, (logged) => {
      const bytes = bytesOf(logged);
      if (!bytes) return;
      const event = decodeRecord(bytes, "LogEntry", { source: "t", index: 1, sequence: 3n });
      if (!event) return;
      for (const layout of LAYOUTS) {
        const parsed = parseLine(formatLine(event, layout), { source: "t", index: 1, line: 1 });
        assert.equal(
          Buffer.from(encodeRecord(parsed, "LogEntry")),
          Buffer.from(encodeLogEntryWithGeneratedCode(parsed)),
          layout,
        );
        const generated = EVENT_TYPES[parsed.type].message
          .encode(messageOf(parsed.type, parsed.json) as never)
          .finish();
        assert.equal(
          Buffer.from(encodeRecord(parsed, parsed.type)),
          Buffer.from(generated),
          `${layout}: bare ${parsed.type}`,
        );
      }
    }),
    { numRuns: 300 },
  );
});

test("the wrapper fields' numbers in ENTRY_KINDS are the descriptors' (gen/descriptors.binpb)", () => {
  const registry = createFileRegistry(
    fromBinary(FileDescriptorSetSchema, readFileSync(`${repoRoot}/gen/descriptors.binpb`)),
  );
  const logEntry = registry.getMessage("sessionevents.log.v1.LogEntry")!;
  for (const kind of LOG_ENTRY_KINDS) {
    const info = ENTRY_KINDS[kind];
    const member = logEntry.fields.find((f) => f.name === kind)!;
    assert.is(member.number, info.number, kind);
    const wrapper = member.message!;
    assert.is(wrapper.fields.find((f) => f.name === "event")!.number, info.eventNumber, `${kind}.event`);
    for (const field of info.fields)
      assert.is(wrapper.fields.find((f) => f.name === field.json)?.number, field.number, `${kind}.${field.json}`);
  }
});

test.run();
