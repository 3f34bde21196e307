/** Archives as a library: export, import, verify, filters, and every kind of damage, on real files. */
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  ArchiveDamageError,
  exportArchive,
  importArchive,
  readArchive,
  verifyArchive,
  type ArchiveDamage,
  type ArchiveEvent,
  type ReadOptions,
} from "../src/archive/index.js";
import { varintPrefix } from "../src/archive/delimited-reader.js";
import { bridges } from "../src/bridge/index.js";
import { ValidationError } from "../src/contract/errors.js";
import { HEADER_BYTES, SEGMENT_HEADER_BYTES, encodeFrame, encodeSegmentHeader } from "../src/store/frame.js";
import { LogEntry } from "../gen/sessionevents/log/v1/log_entry.js";
import {
  logEntryBytes,
  sampleEvents,
  writeDataDir,
  writeSegmentFile,
  type LoggedEvent,
} from "./support/archive-log.js";
import { validStart, validVrp } from "./support/fixtures.js";
import { tempDir } from "./support/repo.js";

/** The contract JSON the bridge gives for an event (canonical form). */
function canonical(e: LoggedEvent): unknown {
  const bridge =
    e.kind === "session_started"
      ? bridges.SessionStartEvent
      : e.kind === "session_ended"
        ? bridges.SessionEndEvent
        : bridges.VrpEvent;
  return bridge.toJson(bridge.fromJson(e.json) as never);
}

async function collect(
  input: string,
  options: ReadOptions = {},
): Promise<{ events: ArchiveEvent[]; damage: ArchiveDamage[] }> {
  const damage: ArchiveDamage[] = [];
  const events: ArchiveEvent[] = [];
  for await (const e of readArchive(input, { onDamage: (d) => damage.push(d), ...options })) events.push(e);
  return { events, damage };
}

const lines = (file: string) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "");
/** Byte offsets of the frames of a segment file written by writeSegmentFile (after its segment header). */
const frameOffsets = (events: readonly LoggedEvent[]) => {
  const offsets: number[] = [];
  let at = SEGMENT_HEADER_BYTES;
  for (const e of events) {
    offsets.push(at);
    at += HEADER_BYTES + logEntryBytes(e).length;
  }
  return offsets;
};

test("export of a data directory: one validated contract event a line, in log order, across segments", async () => {
  const dir = tempDir();
  const events = sampleEvents(24);
  await writeDataDir(path.join(dir, "data"), events, 2048);
  assert.ok(readdirSync(path.join(dir, "data")).filter((n) => n.endsWith(".seg")).length > 1, "several segments");
  const out = path.join(dir, "events.jsonl");
  const summary = await exportArchive(path.join(dir, "data"), { output: out });
  assert.equal(
    lines(out).map((l) => JSON.parse(l)),
    events.map(canonical),
  );
  assert.is(summary.written, 24);
  assert.is(summary.damaged, 0);
  assert.equal(summary.byType, { SessionStartEvent: 6, VrpEvent: 12, SessionEndEvent: 6 });
  assert.is(summary.firstSequence, "1");
  assert.is(summary.lastSequence, "24");
  assert.is(summary.firstTimestamp, "2026-02-06T12:00:00Z");
  assert.is(summary.lastTimestamp, "2026-02-06T12:23:00Z");
});

test("records layout keeps what the log knew; import and export again give the same lines (segment and delimited)", async () => {
  const dir = tempDir();
  await writeDataDir(path.join(dir, "data"), sampleEvents(8));
  const first = path.join(dir, "records.jsonl");
  await exportArchive(path.join(dir, "data"), { output: first, layout: "records" });
  const records = lines(first).map((l) => JSON.parse(l));
  assert.equal(records[0], {
    log_sequence: 1,
    received_at: "2026-02-06T12:00:00Z",
    entry: "session_started",
    session_id: "sess_0",
    event: canonical(sampleEvents(8)[0]!),
  });
  assert.equal(Object.keys(records[1]), [
    "log_sequence",
    "received_at",
    "entry",
    "producer_id",
    "producer_sequence",
    "event",
  ]);
  assert.equal(
    { entry: records[2].entry, cause_sequence: records[2].cause_sequence, received_at: records[2].received_at },
    { entry: "vrp_derived", cause_sequence: 2, received_at: undefined },
  );
  for (const to of ["segment", "delimited"] as const) {
    const binary = path.join(dir, `back.${to}`);
    await importArchive(first, { output: binary, to });
    const again = path.join(dir, `again-${to}.jsonl`);
    await exportArchive(binary, { output: again, layout: "records" });
    if (to === "segment") assert.is(readFileSync(again, "utf8"), readFileSync(first, "utf8"));
    // Delimited records carry no framing sequence: everything else survives.
    else
      assert.equal(
        lines(again).map((l) => ({ ...JSON.parse(l), log_sequence: undefined })),
        records.map((r) => ({ ...r, log_sequence: undefined })),
      );
  }
});

test("readArchive: typed events with their positions and log fields", async () => {
  const dir = tempDir();
  await writeDataDir(dir, sampleEvents(4));
  const { events, damage } = await collect(dir);
  assert.is(damage.length, 0);
  assert.equal(
    events.map((e) => [e.type, e.family, e.log?.kind]),
    [
      ["SessionStartEvent", "session", "session_started"],
      ["VrpEvent", "vrp", "vrp_received"],
      ["VrpEvent", "vrp", "vrp_derived"],
      ["SessionEndEvent", "session", "session_ended"],
    ],
  );
  assert.is(events[0]!.log?.sessionId, "sess_0");
  assert.is(events[1]!.log?.producerSequence, 1n);
  assert.is(events[2]!.log?.causeSequence, 2n);
  assert.equal(
    events.map((e) => e.position.sequence),
    [1n, 2n, 3n, 4n],
  );
  assert.ok(events[0]!.position.source.endsWith("00000000000000000001.seg"));
  assert.is(events[0]!.position.offset, SEGMENT_HEADER_BYTES); // the first frame, just after the segment header
});

test("filters: family, type by name or event_type, and a half-open time range on the event's own time", async () => {
  const dir = tempDir();
  await writeDataDir(dir, sampleEvents(12));
  const types = async (options: ReadOptions) =>
    (await collect(dir, options)).events.map((e) =>
      e.type === "VrpEvent" ? (e.json as { event_type: string }).event_type : e.type,
    );
  assert.equal(await types({ filter: { families: ["session"] } }), [
    "SessionStartEvent",
    "SessionEndEvent",
    "SessionStartEvent",
    "SessionEndEvent",
    "SessionStartEvent",
    "SessionEndEvent",
  ]);
  assert.equal(await types({ filter: { types: ["STATE_CHANGE"] } }), ["STATE_CHANGE", "STATE_CHANGE", "STATE_CHANGE"]);
  assert.equal(await types({ filter: { types: ["session_end", "SessionStartEvent"] } }), [
    "SessionStartEvent",
    "SessionEndEvent",
    "SessionStartEvent",
    "SessionEndEvent",
    "SessionStartEvent",
    "SessionEndEvent",
  ]);
  assert.equal(await types({ filter: { since: "2026-02-06T12:01:00Z", until: "2026-02-06T12:04:00Z" } }), [
    "PATH_SELECTED",
    "STATE_CHANGE",
    "SessionEndEvent",
  ]);
  const reader = readArchive(dir, { filter: { families: ["vrp"] } });
  for await (const _ of reader);
  assert.equal(
    { events: reader.summary().events, filteredOut: reader.summary().filteredOut },
    { events: 12, filteredOut: 6 },
  );
  try {
    readArchive(dir, {
      filter: { families: ["sessions" as never], since: "yesterday", until: "2026-01-01T00:00:00Z" },
    });
    assert.unreachable("a bad filter is refused");
  } catch (e) {
    assert.instance(e, ValidationError);
    assert.equal(
      (e as ValidationError).issues.map((i) => [i.path, i.rule]),
      [
        ["/families", "enum"],
        ["/since", "format"],
      ],
    );
  }
});

test("a torn tail: stop names the record and byte; skip keeps every record before it", async () => {
  const dir = tempDir();
  const events = sampleEvents(6);
  const file = path.join(dir, "log.seg");
  writeSegmentFile(file, events.map(logEntryBytes));
  const whole = readFileSync(file);
  writeFileSync(file, whole.subarray(0, whole.length - 5));
  const at = frameOffsets(events)[5]!;
  try {
    for await (const _ of readArchive(file));
    assert.unreachable("stop is the default");
  } catch (e) {
    assert.instance(e, ArchiveDamageError);
    const d = (e as ArchiveDamageError).damage;
    assert.equal([d.rule, d.position.index, d.position.offset], ["torn", 6, at]);
    assert.match((e as Error).message, `log.seg record 6 (byte ${at})`);
  }
  const { events: kept, damage } = await collect(file);
  assert.is(kept.length, 5);
  assert.equal(
    damage.map((d) => [d.rule, d.position.offset]),
    [["torn", at]],
  );
});

test("a flipped payload byte costs exactly that record; a flipped length field resyncs at the next good frame", async () => {
  const dir = tempDir();
  const events = sampleEvents(8);
  const file = path.join(dir, "log.seg");
  const offsets = frameOffsets(events);
  writeSegmentFile(file, events.map(logEntryBytes));
  const good = readFileSync(file);

  const payloadFlip = Buffer.from(good);
  payloadFlip[offsets[3]! + HEADER_BYTES + 10]! ^= 0x40;
  writeFileSync(file, payloadFlip);
  let { events: kept, damage } = await collect(file);
  assert.equal(
    kept.map((e) => e.position.sequence),
    [1n, 2n, 3n, 5n, 6n, 7n, 8n],
  );
  assert.equal(
    damage.map((d) => [d.rule, d.position.offset, d.bytes]),
    [["checksum", offsets[3], offsets[4]! - offsets[3]!]],
  );

  const lengthFlip = Buffer.from(good);
  lengthFlip[offsets[2]! + 1]! ^= 0x08; // length + 2048: the header checksum no longer holds
  writeFileSync(file, lengthFlip);
  ({ events: kept, damage } = await collect(file));
  assert.equal(
    kept.map((e) => e.position.sequence),
    [1n, 2n, 4n, 5n, 6n, 7n, 8n],
  );
  // The header checksum catches the corrupt length: only that record is lost.
  assert.equal(
    damage.map((d) => [d.rule, d.position.offset, d.bytes]),
    [["framing", offsets[2], offsets[3]! - offsets[2]!]],
  );
  assert.match(damage[0]!.message, "skipped to the next good frame");

  const summary = await verifyArchive(file);
  assert.equal([summary.records, summary.events, summary.damaged], [8, 7, 1]);
});

test("a record that is not a known event, and a smuggled __proto__, are reported and skipped", async () => {
  const dir = tempDir();
  const file = path.join(dir, "log.seg");
  const unknownKind = Buffer.from([0x78, 0x01]); // field 15, varint 1: a LogEntry kind from the future
  const notProtobuf = Buffer.from([0xff, 0xff, 0xff]);
  const metadata = JSON.parse('{"__proto__": {"polluted": true}}');
  const proto = LogEntry.encode({
    receivedAt: undefined,
    entry: {
      $case: "sessionStarted",
      value: { sessionId: "s", event: { ...bridges.SessionStartEvent.fromJson(validStart()), metadata } },
    },
  }).finish();
  const badEvent = LogEntry.encode({
    receivedAt: undefined,
    entry: {
      $case: "vrpReceived",
      value: {
        producerId: "",
        producerSequence: 0n,
        event: { ...bridges.VrpEvent.fromJson(validVrp()), eventType: "" },
      },
    },
  }).finish();
  const good = logEntryBytes(sampleEvents(1)[0]!);
  writeSegmentFile(file, [good, unknownKind, notProtobuf, proto, badEvent, good]);
  const { events, damage } = await collect(file);
  assert.is(events.length, 2);
  assert.equal(
    damage.map((d) => [d.position.index, d.rule]),
    [
      [2, "unknown_record"],
      [3, "protobuf"],
      [4, "contract"],
      [5, "contract"],
    ],
  );
  assert.equal(
    damage[2]!.issues!.map((i) => [i.path, i.rule]),
    [["/session_started/event/metadata/__proto__", "forbidden_key"]],
  );
  assert.equal(
    damage[3]!.issues!.map((i) => [i.path, i.rule]),
    [["/event_type", "minLength"]],
  );
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

test("log sequences: a missing segment and a repeated record are damage; a gap in a plain segment file is not", async () => {
  const dir = tempDir();
  const data = path.join(dir, "data");
  await writeDataDir(data, sampleEvents(40), 1024);
  const segments = readdirSync(data)
    .filter((n) => n.endsWith(".seg"))
    .sort();
  assert.ok(segments.length >= 3);
  const { rmSync } = await import("node:fs");
  rmSync(path.join(data, segments[1]!));
  const { damage } = await collect(data);
  assert.equal(
    damage.map((d) => d.rule),
    ["sequence"],
  );
  assert.match(damage[0]!.message, "are missing (a segment is missing)");

  const file = path.join(dir, "filtered.seg");
  const payloads = sampleEvents(3).map(logEntryBytes);
  writeSegmentFile(file, payloads, [3n, 9n, 9n]);
  const result = await collect(file);
  assert.equal(
    result.events.map((e) => e.position.sequence),
    [3n, 9n],
  );
  assert.equal(
    result.damage.map((d) => [d.rule, d.position.index]),
    [["sequence", 3]],
  );
});

test("JSON Lines damage is named by line: malformed, not UTF-8, not an object, not a contract event, a bad version", async () => {
  const dir = tempDir();
  const file = path.join(dir, "in.jsonl");
  const good = JSON.stringify(validVrp());
  const content = Buffer.concat([
    Buffer.from(`${good}\n{"ts_ms": 1,\n`),
    Buffer.from([0x7b, 0xff, 0x7d, 0x0a]), // {\xff}
    Buffer.from(`[1,2]\n\n{"hello":"world"}\r\n${JSON.stringify({ ...validStart(), event_version: "2.0" })}\n`),
    Buffer.from(
      `{"entry":"session_ended","producer_id":"p","event":{"session_id":"s","timestamp":"2026-01-01T00:00:00Z"}}\n${good}`,
    ),
  ]);
  writeFileSync(file, content);
  const { events, damage } = await collect(file);
  assert.is(events.length, 2);
  assert.equal(
    damage.map((d) => [d.position.line, d.rule]),
    [
      [2, "json"],
      [3, "json"],
      [4, "contract"],
      [6, "unknown_record"],
      [7, "contract"],
      [8, "contract"],
    ],
  );
  assert.equal(
    damage[4]!.issues!.map((i) => [i.path, i.rule, i.message]),
    [["/event_version", "event_version", "Unsupported event version: 2.0 (expected '1.0')"]],
  );
  assert.equal(
    damage[5]!.issues!.map((i) => [i.path, i.rule]),
    [["/producer_id", "unknown_property"]],
  );
  assert.is(damage[1]!.message, "not UTF-8 text");
});

test("gzip in and out; a cut gzip stream keeps what came before and reports the cut", async () => {
  const dir = tempDir();
  await writeDataDir(path.join(dir, "data"), sampleEvents(30));
  const gz = path.join(dir, "events.jsonl.gz");
  await exportArchive(path.join(dir, "data"), { output: gz, gzip: true });
  const packed = readFileSync(gz);
  assert.equal([packed[0], packed[1]], [0x1f, 0x8b]);
  assert.is((await collect(gz)).events.length, 30);
  const cut = path.join(dir, "cut.jsonl.gz");
  writeFileSync(cut, packed.subarray(0, Math.floor(packed.length * 0.8)));
  const { events, damage } = await collect(cut);
  assert.ok(events.length > 0 && events.length < 30, `${events.length} events before the cut`);
  assert.ok(
    damage.some((d) => d.rule === "torn" && /gzip/.test(d.message)),
    JSON.stringify(damage),
  );
  const segment = path.join(dir, "log.seg.gz");
  writeFileSync(
    segment,
    gzipSync(
      Buffer.concat([encodeSegmentHeader(1n), ...sampleEvents(5).map((e, i) => frame(i + 1, logEntryBytes(e)))]),
    ),
  );
  const fromSegment = await collect(segment);
  assert.equal([fromSegment.events.length, fromSegment.damage.length], [5, 0]);
});

/** One frame (no segment header). */
function frame(sequence: number, payload: Uint8Array): Buffer {
  return encodeFrame(BigInt(sequence), payload);
}

test("length-delimited bare event messages, as another program would write them", async () => {
  const dir = tempDir();
  const file = path.join(dir, "starts.bin");
  const starts = [validStart(), { ...validStart(), pid: 7 }];
  writeFileSync(
    file,
    Buffer.concat(
      starts.flatMap((s) => {
        const b = bridges.SessionStartEvent.toBinary(s);
        return [varintPrefix(b.length), Buffer.from(b)];
      }),
    ),
  );
  const { events, damage } = await collect(file, { message: "SessionStartEvent" });
  assert.is(damage.length, 0);
  assert.equal(
    events.map((e) => (e.json as { pid: number }).pid),
    [12345, 7],
  );
  assert.is(events[0]!.log, undefined);
  // Bytes that are no message of the type are named by position.
  writeFileSync(file, Buffer.concat([readFileSync(file), varintPrefix(2), Buffer.from([0x0a, 0x05])]));
  const bad = await collect(file, { message: "SessionStartEvent" });
  assert.equal([bad.events.length, bad.damage.map((d) => [d.position.index, d.rule])], [2, [[3, "protobuf"]]]);
  writeFileSync(file, readFileSync(file).subarray(0, -3));
  // A torn last record.
  writeFileSync(file, readFileSync(file).subarray(0, -3));
  const torn = await collect(file, { message: "SessionStartEvent" });
  assert.equal([torn.events.length, torn.damage.map((d) => d.rule)], [1, ["torn"]]);
});

test("import writes bare messages of one type, and refuses an event of another type by position", async () => {
  const dir = tempDir();
  await writeDataDir(path.join(dir, "data"), sampleEvents(4));
  const jsonl = path.join(dir, "all.jsonl");
  await exportArchive(path.join(dir, "data"), { output: jsonl });
  const out = path.join(dir, "vrp.bin");
  const damage: ArchiveDamage[] = [];
  const summary = await importArchive(jsonl, {
    output: out,
    to: "delimited",
    outputMessage: "VrpEvent",
    onDamage: (d) => damage.push(d),
  });
  assert.equal([summary.written, summary.damaged], [2, 2]);
  assert.equal(
    damage.map((d) => [d.position.line, d.rule]),
    [
      [1, "contract"],
      [4, "contract"],
    ],
  );
  const back = await collect(out, { message: "VrpEvent" });
  assert.equal(
    back.events.map((e) => e.json),
    lines(jsonl)
      .slice(1, 3)
      .map((l) => JSON.parse(l)),
  );
});

test("a job stopped at damage leaves no partial file under the output's name", async () => {
  const dir = tempDir();
  const file = path.join(dir, "in.jsonl");
  writeFileSync(file, `${JSON.stringify(validVrp())}\nnot json\n`);
  const out = path.join(dir, "out.seg");
  try {
    await importArchive(file, { output: out });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ArchiveDamageError);
    assert.match((e as Error).message, "in.jsonl record 2 (line 2, byte");
  }
  assert.equal(readdirSync(dir), ["in.jsonl"]);
  assert.not.ok(existsSync(out));
});

test("a data directory's unfinished last write is not damage; the same bytes mid-log are", async () => {
  const dir = tempDir();
  const data = path.join(dir, "data");
  await writeDataDir(data, sampleEvents(30), 1024);
  const segments = readdirSync(data)
    .filter((n) => n.endsWith(".seg"))
    .sort();
  const lastSegment = path.join(data, segments.at(-1)!);
  const partial = Buffer.from(frame(31, logEntryBytes(sampleEvents(1)[0]!))).subarray(0, 40);
  writeFileSync(lastSegment, Buffer.concat([readFileSync(lastSegment), partial]));
  const summary = await verifyArchive(data);
  assert.equal([summary.events, summary.damaged], [30, 0]);
  assert.equal(summary.unfinishedTail, {
    source: lastSegment,
    offset: readFileSync(lastSegment).length - 40,
    bytes: 40,
  });
  const out = path.join(dir, "out.jsonl");
  assert.is((await exportArchive(data, { output: out })).written, 30); // "stop" is not triggered
  // The same torn bytes at the end of an earlier segment are damage.
  const middle = path.join(data, segments[0]!);
  writeFileSync(middle, Buffer.concat([readFileSync(middle), partial]));
  assert.equal(
    (await verifyArchive(data)).damage.map((d) => [d.rule, d.position.source]),
    [["torn", middle]],
  );
  // A complete last record whose payload checksum fails is damage, not an
  // unfinished write: it was acknowledged (format 2, frame.ts crashTailReason).
  writeFileSync(middle, readFileSync(middle).subarray(0, -40));
  writeFileSync(lastSegment, readFileSync(lastSegment).subarray(0, -40));
  const flipped = readFileSync(lastSegment);
  flipped[flipped.length - 3]! ^= 0xff;
  writeFileSync(lastSegment, flipped);
  const damaged = await verifyArchive(data);
  assert.equal([damaged.events, damaged.damaged, damaged.unfinishedTail], [29, 1, undefined]);
  assert.equal(
    damaged.damage.map((d) => [d.rule, d.position.source]),
    [["checksum", lastSegment]],
  );
  assert.match(damaged.damage[0]!.message, "payload checksum mismatch (record 30)");
});

test("a live collector's data directory exports cleanly while events are being written", async () => {
  const { startTestServer, clientFor, call } = await import("./support/collector.js");
  const { randomUUID } = await import("node:crypto");
  const server = await startTestServer();
  const client = clientFor(server.target);
  let acknowledged = 0;
  let writing = true;
  const writer = (async () => {
    while (writing) {
      await Promise.all(
        Array.from({ length: 16 }, () =>
          call(client, "emitSessionStart", {
            event: bridges.SessionStartEvent.fromJson({ ...validStart(), event_id: randomUUID() }),
          }).then(() => acknowledged++),
        ),
      );
    }
  })();
  try {
    for (let round = 0; round < 6; round++) {
      const before = acknowledged;
      const summary = await exportArchive(server.dataDir, { output: path.join(tempDir(), "live.jsonl") });
      assert.is(summary.damaged, 0);
      assert.ok(
        summary.written >= before,
        `${summary.written} exported, ${before} acknowledged before the export began`,
      );
    }
  } finally {
    writing = false;
    await writer;
    client.close();
    await server.shutdown();
  }
  assert.is((await verifyArchive(server.dataDir)).events, acknowledged);
});

test.run();
