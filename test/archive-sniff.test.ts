/** Format sniffing: what an input is read as (segment, length-delimited, JSON Lines), from its first bytes. */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { verifyArchive } from "../src/archive/index.js";
import { HEADER_BYTES, SEGMENT_HEADER_BYTES } from "../src/store/frame.js";
import {
  logEntryBytes,
  sampleEvents,
  writeSegmentFile,
  sampleJsonLines,
  type LoggedEvent,
} from "./support/archive-log.js";
import { tempDir } from "./support/repo.js";
import { validEnd, validVrp } from "./support/fixtures.js";

test("sniffing: a segment whose first frame length is 123 mod 256 (first byte '{') is not read as JSON Lines", async () => {
  const dir = tempDir();
  const base = sampleEvents(2)[0]!;
  let payload: Uint8Array | undefined;
  for (let n = 0; n < 600 && !(payload && payload.length % 256 === 123); n++) {
    payload = logEntryBytes({ ...base, json: { ...base.json, metadata: { pad: "x".repeat(n) } } } as typeof base);
  }
  assert.is(payload!.length % 256, 123);
  const file = path.join(dir, "log.bin"); // no .seg name (as with stdin)
  writeSegmentFile(file, [payload!, logEntryBytes(sampleEvents(2)[1]!)]);
  const s = await verifyArchive(file);
  assert.is(s.events, 2, `${s.damaged} damaged: ${s.damage[0]?.message}`);
});

test("sniffing: a segment (no .seg name / stdin) whose first record is damaged is still read as a segment", async () => {
  const dir = tempDir();
  const file = path.join(dir, "log.bin");
  writeSegmentFile(file, sampleEvents(5).map(logEntryBytes));
  const bytes = readFileSync(file);
  bytes[SEGMENT_HEADER_BYTES + HEADER_BYTES + 14] ^= 0xff; // a payload byte of record 1 (the segment header, with its magic number, is intact)
  writeFileSync(file, bytes);
  const s = await verifyArchive(file);
  assert.is(s.events, 4, `read as delimited: ${s.damaged} bogus damage, 0 events`);
  assert.is(s.damaged, 1);
});

test("sniff: a length-delimited file whose first record is 123 bytes long (0x7b is '{') is not JSON Lines", async () => {
  const dir = tempDir();
  let entry: Uint8Array | undefined;
  for (let pad = 0; pad < 200 && !entry; pad++) {
    const e: LoggedEvent = {
      kind: "session_ended",
      json: { ...validEnd(), metadata: { exit_reason: "x".repeat(pad) } },
    };
    const bytes = logEntryBytes(e);
    if (bytes.length === 123) entry = bytes;
  }
  assert.ok(entry, "a 123-byte LogEntry");
  const file = path.join(dir, "records.bin");
  writeFileSync(file, Buffer.concat([Buffer.from([123]), entry!]));
  const s = await verifyArchive(file);
  assert.is(s.damaged, 0, JSON.stringify(s.damage.map((d) => d.message)));
  assert.is(s.events, 1);
});

test("sniff: JSON Lines whose first line is cut (tail -c, a comment) is still JSON Lines, not one big damaged delimited record", async () => {
  const dir = tempDir();
  const text = await sampleJsonLines(dir, 12);
  const file = path.join(dir, "tail-of-log"); // no extension, as on stdin
  writeFileSync(file, text.slice(text.indexOf("\n") - 30)); // starts mid-line
  const s = await verifyArchive(file);
  assert.is(s.events, 11, `events ${s.events}, damaged ${s.damaged}`);
});

test("sniff: one stray control byte in a JSON Lines file does not turn the whole file into delimited protobuf", async () => {
  const dir = tempDir();
  const file = path.join(dir, "events.log"); // no .jsonl name: sniffed (as stdin is)
  const lines = (await sampleJsonLines(dir, 200)).split("\n");
  lines[3] = `${lines[3]!.slice(0, 50)}\u001b${lines[3]!.slice(51)}`;
  writeFileSync(file, lines.join("\n"));
  const s = await verifyArchive(file);
  assert.ok(s.events >= 199, `events ${s.events}, damaged ${s.damaged}: read as length-delimited protobuf`);
});

test("sniff: a segment whose first record is larger than 4 MiB (allowed up to 64 MiB) is sniffed as a segment", async () => {
  const dir = tempDir();
  const file = path.join(dir, "big-first.bin");
  const big = logEntryBytes({
    kind: "vrp_received",
    json: { ...validVrp(), details: { path: "x".repeat(5 << 20) } },
    producerId: "p",
    producerSequence: 1n,
    receivedAt: "2026-02-06T12:00:00Z",
  });
  writeSegmentFile(file, [big, ...sampleEvents(10).map(logEntryBytes)]);
  const s = await verifyArchive(file, { onDamage: () => {} });
  assert.is(s.events, 11, `events ${s.events}, damaged ${s.damaged}: read as delimited`);
});

test.run();
