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
import { segmentEncoder } from "../src/archive/json-encode.js";
import { ValidationError } from "../src/contract/errors.js";
import { encodeFrame, encodeSegmentHeader } from "../src/store/frame.js";
import { validEnd, validStart, validVrp } from "./support/fixtures.js";
import { MAX_FREE_FORM_DEPTH } from "../src/contract/shape.js";
import { encodeStruct } from "../src/bridge/codec.js";
import { LogEntry } from "../gen/sessionevents/log/v1/log_entry.js";
import { SessionEndEvent } from "../gen/oneiric/session/v1/session_events.js";
import { VrpEvent } from "../gen/vrp/v1alpha1/vrp_event.js";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { importArchive } from "../src/archive/jobs.js";
import * as arb from "./support/arbitraries.js";
import { logEntryBytes, type LoggedEvent } from "./support/archive-log.js";
import { repoRoot, tempDir } from "./support/repo.js";

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
  const number =
    sequence === undefined ? undefined : sequence <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(sequence) : NaN;
  // Inside a bigger buffer, as the frame reader hands records on: nothing past the record may be read.
  const within = Buffer.concat([Buffer.from([0x0a, 0x80]), bytes, Buffer.from([0x12, 0x05, 0x80, 0x80, 0x80])]);
  if (!transcoder.record!(within, 2, 2 + bytes.length, number, tally)) {
    assert.not.ok(transcoder.pending, "a record the fast path did not take leaves nothing behind");
    return undefined;
  }
  return { line: Buffer.from(transcoder.take().bytes).toString("utf8"), summary: JSON.stringify(tally.finish()) };
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
    34.5,
    -0.5,
    1234567.8,
    -99999999999.9,
    0.30000000000000004,
    1099511627775.5,
    1099511627776.5,
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
    "fields out of order": entryWith(
      new BinaryWriter()
        .uint32((3 << 3) | 2)
        .string("s1")
        .uint32((2 << 3) | 2)
        .string("PATH_SELECTED")
        .uint32(1 << 3)
        .int64(1770379200000n)
        .finish(),
    ),
    "ts_ms 0 (not on the wire)": entryWith(VrpEvent.encode({ ...(vrpEvent() as VrpEvent), tsMs: 0n }).finish()),
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
  assert.equal(
    taken.sort(),
    [
      "-0",
      "entry without a key",
      "plain",
      "session end at the first instant",
      "fields out of order",
      "ts_ms 0 (not on the wire)",
    ].sort(),
  );
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

// --- import's fast path (json-encode.ts): parsed JSON -> the frame the reference path writes ---

type ImportOutcome = { kind: "frame"; bytes: string; summary: string } | { kind: "refused" };

/** The reference path: parseLine, encodeRecord, encodeFrame (the segment header first when `last` is 0). */
function importReference(text: string, last: number): ImportOutcome {
  const tally = new SummaryBuilder();
  try {
    const event = parseLine(text, { source: "t", index: 1, line: 1 });
    tally.event(event);
    const payload = encodeRecord(event, "LogEntry");
    const sequence = event.log?.sequence ?? BigInt(last) + 1n;
    const frame = encodeFrame(sequence, payload);
    const bytes = last === 0 ? Buffer.concat([encodeSegmentHeader(sequence), frame]) : frame;
    return { kind: "frame", bytes: bytes.toString("hex"), summary: JSON.stringify(tally.finish()) };
  } catch (e) {
    if (e instanceof RecordError || e instanceof SyntaxError || e instanceof ValidationError)
      return { kind: "refused" };
    throw e;
  }
}

function importFast(text: string, last: number): { bytes: string; summary: string } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const tally = new SummaryBuilder();
  const sequencer = { last: BigInt(last) };
  const encoder = segmentEncoder(sequencer);
  if (!encoder.line!(value, tally)) {
    assert.not.ok(encoder.pending, "a line the fast path did not take leaves nothing behind");
    assert.is(BigInt(sequencer.last), BigInt(last), "nor uses a sequence");
    return undefined;
  }
  const taken = encoder.take();
  assert.is(taken.count, 1);
  assert.is(BigInt(sequencer.last), BigInt(last) + 1n);
  return { bytes: Buffer.from(taken.bytes).toString("hex"), summary: JSON.stringify(tally.finish()) };
}

/** Compares both import paths on one line (as the first record and as a later one); returns whether the fast path took it. */
function compareImport(text: string): boolean {
  let taken = false;
  for (const last of [0, 41]) {
    const got = importFast(text, last);
    if (!got) continue;
    taken = true;
    const ref = importReference(text, last);
    assert.is(ref.kind, "frame", `the fast path took a line the reference path refuses: ${text}`);
    if (ref.kind !== "frame") continue;
    assert.is(got.bytes, ref.bytes, text);
    assert.is(got.summary, ref.summary, `summary: ${text}`);
  }
  return taken;
}

test("import: generated events lines become the reference path's frames, byte for byte", () => {
  let taken = 0;
  let total = 0;
  fc.assert(
    fc.property(loggedEvent, (logged) => {
      const bytes = bytesOf(logged);
      if (!bytes) return;
      const event = decodeRecord(bytes, "LogEntry", { source: "t", index: 1, sequence: 3n });
      if (!event) return;
      total++;
      if (compareImport(formatLine(event, "events"))) taken++;
      compareImport(formatLine(event, "records")); // taken by the reference path only
    }),
    { numRuns: 600 },
  );
  assert.ok(taken > total * 0.8, `the fast path took ${taken} of ${total} lines`);
});

/** Lines the emitters never write, each a rule the reference path enforces (or a value it writes its own way). */
const base = { ...validVrp(), details: { a: 1 } } as Record<string, unknown>;
const baseStart = { ...validStart() } as Record<string, unknown>;
const vrpLine = (patch: Record<string, unknown>) => JSON.stringify({ ...base, ...patch });
const startLine = (patch: Record<string, unknown>) => JSON.stringify({ ...baseStart, ...patch });

test("import: hand-made lines, taken only where the reference path writes the same frame", () => {
  const cases: Record<string, string> = {
    plain: vrpLine({}),
    "plain start": startLine({}),
    "plain end": JSON.stringify(validEnd()),
    "unknown key": vrpLine({ extra: 1 }),
    "unknown key in user": startLine({ user: { ...(baseStart.user as object), extra: "x" } }),
    "__proto__ key at the top": `{"__proto__":{},${vrpLine({}).slice(1)}`,
    "__proto__ key in details": vrpLine({ details: JSON.parse('{"__proto__":1}') }),
    "constructor key in details": vrpLine({ details: { constructor: 1 } }),
    "lone surrogate": `{${vrpLine({}).slice(1, -1)},"node_id":"\ud800"}`,
    "lone surrogate in a key": vrpLine({}).replace('"details":{"a":1}', '"details":{"\udc00":1}'),
    "1e999 in details": vrpLine({}).replace('"a":1', '"a":1e999'),
    "-0 in details": vrpLine({ details: { a: -0 } }).replace('"a":0', '"a":-0'),
    "-0 ts_ms": vrpLine({}).replace(/"ts_ms":\d+/, '"ts_ms":-0'),
    "ts_ms 1.5": vrpLine({ ts_ms: 1.5 }),
    "ts_ms as a string": vrpLine({ ts_ms: "1" }),
    "ts_ms past 2^53": vrpLine({}).replace(/"ts_ms":\d+/, '"ts_ms":9007199254740993'),
    "negative ts_ms": vrpLine({ ts_ms: -1 }),
    "empty event_type": vrpLine({ event_type: "" }),
    "event_type of 129 characters": vrpLine({ event_type: "x".repeat(129) }),
    "event_type of 128 astral characters": vrpLine({ event_type: "😀".repeat(128) }),
    "event_type of 129 astral characters": vrpLine({ event_type: "😀".repeat(129) }),
    "null node_id": vrpLine({ node_id: null }),
    "empty node_id": vrpLine({ node_id: "" }),
    "details an array": vrpLine({ details: [1] }),
    "details null": vrpLine({ details: null }),
    "details empty": vrpLine({ details: {} }),
    "details deep 32": vrpLine({ details: deep(MAX_FREE_FORM_DEPTH - 1) }),
    "details deep 33": vrpLine({ details: deep(MAX_FREE_FORM_DEPTH) }),
    "integer-like keys": vrpLine({}).replace('"details":{"a":1}', '"details":{"b":1,"2":2,"1":3,"a":{"10":1,"9":2}}'),
    "unicode and escapes": vrpLine({
      details: { "é\n\u2028": ["日本", "😀", "\u0000", 5e-324, 1.7976931348623157e308, null, true] },
    }),
    "missing session_id": JSON.stringify({ ...base, session_id: undefined }),
    "pid 0": startLine({ pid: 0 }),
    "pid past the maximum": startLine({ pid: 4194305 }),
    "pid 2^31": startLine({ pid: 2 ** 31 }),
    "bad uuid": startLine({ event_id: "not-a-uuid" }),
    "bad component_name": startLine({ component_name: "a b" }),
    "wrong event_type": startLine({ event_type: "session_end" }),
    "event_type given": startLine({ event_type: "session_start" }),
    "wrong version": startLine({ event_version: "2.0" }),
    "version a number": startLine({ event_version: 1 }),
    "timestamp with an offset": startLine({ timestamp: "2026-02-06T12:00:00+01:00" }),
    "timestamp with nanoseconds": startLine({ timestamp: "2026-02-06T12:00:00.123456789Z" }),
    "timestamp with ten fraction digits": startLine({ timestamp: "2026-02-06T12:00:00.1234567891Z" }),
    "timestamp before 1970": startLine({ timestamp: "1969-12-31T23:59:59.5Z" }),
    "timestamp at the first instant": startLine({ timestamp: "0001-01-01T00:00:00Z" }),
    "timestamp out of range": startLine({ timestamp: "0000-12-31T23:59:59Z" }),
    "timestamp past the range by offset": startLine({ timestamp: "9999-12-31T23:59:59-01:00" }),
    "timestamp a leap second": startLine({ timestamp: "2016-12-31T23:59:60Z" }),
    "timestamp not a date": startLine({ timestamp: "yesterday" }),
    "username of 101 characters": startLine({ user: { username: "u".repeat(101), home: "/h" } }),
    "user missing home": startLine({ user: { username: "u" } }),
    "user null": startLine({ user: null }),
    "environment an array": startLine({ environment: [] }),
    "end without event_version": JSON.stringify({ ...validEnd(), event_version: undefined }),
    "end with event_version 1.0": JSON.stringify({ ...validEnd(), event_version: "1.0" }),
    "end with an empty session_id": JSON.stringify({ ...validEnd(), session_id: "" }),
    "records layout": JSON.stringify({ entry: "vrp_received", event: base }),
    "an array": "[1]",
    "a string": '"x"',
    "no type": '{"a":1}',
    "not JSON": "{",
  };
  const taken: string[] = [];
  for (const [name, text] of Object.entries(cases)) {
    try {
      if (compareImport(text)) taken.push(name);
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
  }
  assert.equal(
    taken.sort(),
    [
      "plain",
      "plain start",
      "plain end",
      "-0 in details",
      "-0 ts_ms",
      "details empty",
      "details deep 32",
      "integer-like keys",
      "unicode and escapes",
      "event_type of 128 astral characters",
      "event_type given",
      "timestamp with an offset",
      "timestamp with nanoseconds",
      "timestamp with ten fraction digits",
      "timestamp before 1970",
      "timestamp at the first instant",
      "timestamp a leap second",
      "end without event_version",
      "end with event_version 1.0",
      "end with an empty session_id",
    ].sort(),
  );
});

test("import: mutated lines are taken only as the reference path writes them", () => {
  fc.assert(
    fc.property(
      loggedEvent,
      fc.array(
        fc.tuple(
          fc.nat(),
          fc.constantFrom(...'{}[]":,0123456789-.eE tnulfra\u00e9😀'),
          fc.constantFrom("set", "cut", "insert"),
        ),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
      (logged, mutations) => {
        const bytes = bytesOf(logged);
        if (!bytes) return;
        const event = decodeRecord(bytes, "LogEntry", { source: "t", index: 1, sequence: 3n });
        if (!event) return;
        let text = formatLine(event, "events");
        for (const [where, char, how] of mutations) {
          const i = where % Math.max(1, text.length);
          if (how === "set") text = text.slice(0, i) + char + text.slice(i + 1);
          else if (how === "cut") text = text.slice(0, i);
          else text = text.slice(0, i) + char + text.slice(i);
        }
        compareImport(text);
      },
    ),
    { numRuns: 1500 },
  );
});

test("import: fast and reference lines interleave in one segment, each numbered on from the last", async () => {
  const dir = tempDir();
  const vrpEvent = validVrp();
  const records = (sequence: number) =>
    JSON.stringify({ log_sequence: sequence, entry: "vrp_received", producer_id: "p", event: vrpEvent });
  const fastLines = [
    JSON.stringify(vrpEvent),
    JSON.stringify(validStart()),
    JSON.stringify({ ...validEnd(), metadata: { é: [1, null, { "2": true }] } }),
  ];
  const refused = JSON.stringify({ ...vrpEvent, extra: 1 });
  for (const [name, lines, sequences] of [
    ["fast first", [fastLines[0]!, records(10), refused, fastLines[1]!, fastLines[2]!], [1n, 10n, 11n, 12n]],
    [
      "reference first",
      [records(5), fastLines[0]!, refused, fastLines[1]!, records(9), fastLines[2]!],
      [5n, 6n, 7n, 9n, 10n],
    ],
  ] as const) {
    const input = path.join(dir, `${name}.jsonl`);
    writeFileSync(input, `${lines.join("\n")}\n`);
    const output = path.join(dir, `${name}.seg`);
    const damage: unknown[] = [];
    const summary = await importArchive(input, { output, onDamage: (d) => void damage.push(d) });
    const good = lines.filter((l) => l !== refused);
    const frames = good.map((line, i) =>
      encodeFrame(sequences[i]!, encodeRecord(parseLine(line, { source: "t", index: 1, line: 1 }), "LogEntry")),
    );
    assert.equal(readFileSync(output), Buffer.concat([encodeSegmentHeader(sequences[0]!), ...frames]), name);
    assert.is(summary.written, good.length, name);
    assert.is(summary.damaged, 1, name);
    assert.is(damage.length, 1, name);
  }
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
