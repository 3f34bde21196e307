/**
 * Sealed segment indexes (src/store/segment-index.ts): a closed segment's
 * size, sequences and read index, written beside it so that opening the log
 * reads only its last segment. What is tested: open reads no frame of a
 * sealed segment; a missing, truncated, flipped, stale or foreign-version
 * index is ignored and rebuilt, with the same reads; damage inside a sealed
 * segment is refused when read and reported by verifyLog; retention and
 * repair remove indexes; a SIGKILL across rolls loses nothing acknowledged.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LogCorruptionError, SegmentLog } from "../src/store/segment-log.js";
import { decodeSegmentIndex, encodeSegmentIndex, indexFileFor } from "../src/store/segment-index.js";
import { repairLog, verifyLog } from "../src/store/repair.js";
import { tempDir } from "./support/repo.js";
import { FRAME_HEADER, parseSegment, readAll, segmentPaths } from "./support/segments.js";

const RECORDS = 120;
const SEGMENT_BYTES = 1024;

/** A closed log of RECORDS records over several segments; returns its records. */
async function writeLog(dir: string): Promise<{ sequence: bigint; payload: Buffer }[]> {
  const log = await SegmentLog.open({ dir, segmentBytes: SEGMENT_BYTES });
  for (let i = 0; i < RECORDS; i += 3)
    await log.appendGroup([0, 1, 2].map((j) => Buffer.from(`record-${i + j}-${"p".repeat((i + j) % 40)}`)));
  await log.close();
  const reopened = await SegmentLog.open({ dir, readOnly: true });
  const records = await readAll(reopened);
  await reopened.close();
  return records;
}

const indexFiles = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.endsWith(".seg.idx"))
    .sort();
const recordsIn = (file: string) => parseSegment(readFileSync(file)).length;

test("a reopened log reads no frame of its sealed segments, only the last one, and reads the same", async () => {
  const dir = tempDir("seal-open-");
  const records = await writeLog(dir);
  const segments = segmentPaths(dir);
  assert.ok(segments.length >= 4, `${segments.length} segments`);
  assert.equal(
    indexFiles(dir),
    segments.slice(0, -1).map((f) => `${path.basename(f)}.idx`),
    "every closed segment is sealed, the active one is not",
  );
  const log = await SegmentLog.open({ dir });
  assert.is(log.stats.openSealedIndexes, segments.length - 1);
  assert.is(
    log.stats.openFramesScanned,
    recordsIn(segments.at(-1)!),
    "frames scanned at open: the last segment's only",
  );
  assert.equal(await readAll(log), records);
  // Reads by sequence seek through the sealed read index.
  const from = 57n;
  const tail: bigint[] = [];
  for await (const r of log.read(from)) tail.push(r.sequence);
  assert.equal(
    tail,
    records.filter((r) => r.sequence >= from).map((r) => r.sequence),
  );
  await log.close();
});

/** Ways a sealed index goes bad: each must be ignored (the segment scanned) and rewritten. */
const spoilers: Record<string, (file: string, bytes: Buffer) => void> = {
  missing: (file) => rmSync(file),
  truncated: (file, bytes) => writeFileSync(file, bytes.subarray(0, bytes.length - 5)),
  "bit-flipped": (file, bytes) => {
    const flipped = Buffer.from(bytes);
    flipped[20]! ^= 0x04;
    writeFileSync(file, flipped);
  },
  "stale (size mismatch)": (file, bytes) => {
    const sealed = decodeSegmentIndex(bytes);
    if ("invalid" in sealed) throw new Error(sealed.invalid);
    writeFileSync(file, encodeSegmentIndex({ ...sealed, size: sealed.size + 24 }));
  },
  "unknown version": (file, bytes) => {
    const other = Buffer.from(bytes);
    other.writeUInt32LE(99, 8);
    // A valid checksum, so that the version itself is what is refused.
    const { crc32 } = zlib;
    other.writeUInt32LE(crc32(other.subarray(0, other.length - 4)), other.length - 4);
    writeFileSync(file, other);
  },
};
const zlib = await import("node:zlib");

for (const [name, spoil] of Object.entries(spoilers)) {
  test(`a ${name} sealed index is ignored: the segment is scanned, reads are the same, and the index is written again`, async () => {
    const dir = tempDir("seal-spoil-");
    const records = await writeLog(dir);
    const segments = segmentPaths(dir);
    const victim = indexFileFor(segments[1]!);
    const original = readFileSync(victim);
    spoil(victim, original);
    const log = await SegmentLog.open({ dir });
    assert.is(log.stats.openSealedIndexes, segments.length - 2, "all indexes but the spoiled one are used");
    assert.is(
      log.stats.openFramesScanned,
      recordsIn(segments[1]!) + recordsIn(segments.at(-1)!),
      "the spoiled one's segment is scanned",
    );
    assert.equal(await readAll(log), records);
    await log.close();
    assert.ok(readFileSync(victim).equals(original), "the index was written again, as it was");
    const again = await SegmentLog.open({ dir });
    assert.is(again.stats.openSealedIndexes, segments.length - 1);
    await again.close();
  });
}

test("a read-only open uses sealed indexes but writes none", async () => {
  const dir = tempDir("seal-ro-");
  const records = await writeLog(dir);
  const first = indexFileFor(segmentPaths(dir)[0]!);
  rmSync(first);
  const log = await SegmentLog.open({ dir, readOnly: true });
  assert.equal(await readAll(log), records);
  await log.close();
  assert.not.ok(existsSync(first), "a read-only open wrote an index");
});

test("a flipped byte inside a sealed segment: open does not read it, reading its record is refused naming the segment, verifyLog reports it", async () => {
  const dir = tempDir("seal-flip-");
  const records = await writeLog(dir);
  const [first] = segmentPaths(dir);
  const bytes = readFileSync(first!);
  const victim = parseSegment(bytes)[4]!;
  bytes[victim.offset + FRAME_HEADER + 3]! ^= 0x10; // a payload byte
  writeFileSync(first!, bytes);
  const log = await SegmentLog.open({ dir });
  assert.is(log.lastSequence, records.at(-1)!.sequence, "open does not read the sealed segment");
  // A read that starts past it is not affected.
  const later: bigint[] = [];
  for await (const r of log.read(records.at(-1)!.sequence)) later.push(r.sequence);
  assert.equal(later, [records.at(-1)!.sequence]);
  try {
    await readAll(log);
    assert.unreachable("read a damaged record");
  } catch (e) {
    assert.instance(e, LogCorruptionError);
    const error = e as LogCorruptionError;
    assert.is(error.segment, first);
    assert.is(error.offset, victim.offset);
    assert.match(error.message, /payload checksum mismatch.*\[checksum\]$/);
  }
  await log.close();
  const report = await verifyLog(dir);
  assert.ok(report.damaged, "verifyLog reports the damage");
  assert.equal(
    report.segments.filter((s) => s.damage.length > 0).map((s) => s.file),
    [first],
  );
  // Repair rewrites the segment: its index goes with the old bytes, and the next open seals it again.
  await repairLog(dir);
  assert.not.ok(existsSync(indexFileFor(first!)), "repair left the rewritten segment's old index");
  const repaired = await SegmentLog.open({ dir });
  assert.equal(
    (await readAll(repaired)).map((r) => r.sequence),
    records.filter((r) => r.sequence !== victim.sequence).map((r) => r.sequence),
  );
  await repaired.close();
  assert.ok(existsSync(indexFileFor(first!)), "the next open sealed it again");
});

test("retention removes a segment's index with it, and an orphan index is removed at open", async () => {
  const dir = tempDir("seal-retention-");
  await writeLog(dir);
  const log = await SegmentLog.open({ dir, segmentBytes: SEGMENT_BYTES });
  const held = log.segmentsHeld();
  const removed = await log.removeSegmentsBefore(held[2]!.first);
  assert.equal(
    removed,
    held.slice(0, 2).map((s) => path.basename(s.file)),
  );
  await log.close();
  for (const s of held.slice(0, 2)) assert.not.ok(existsSync(indexFileFor(s.file)), `${s.file}: index left behind`);
  assert.ok(existsSync(indexFileFor(held[2]!.file)), "the kept segments keep theirs");
  // A crash between the two unlinks of an older build, or by hand: an index whose segment is gone.
  const orphan = indexFileFor(held[0]!.file);
  writeFileSync(orphan, readFileSync(indexFileFor(held[2]!.file)));
  const reopened = await SegmentLog.open({ dir });
  assert.is(reopened.firstSequence, held[2]!.first);
  await reopened.close();
  assert.not.ok(existsSync(orphan), "the orphan index was removed");
});

test("SIGKILL of a process appending across many rolls: the log reopens with every acknowledged record", async () => {
  const dir = tempDir("seal-kill-");
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), "support/seal-child.js");
  for (let round = 0; round < 3; round++) {
    const proc = spawn(process.execPath, [child, dir], { stdio: ["ignore", "pipe", "pipe"] });
    const acked = new Map<bigint, string>();
    let partial = "";
    let stderr = "";
    proc.stdout.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        const [tag, sequence, payload] = line.split(" ");
        if (tag === "A") acked.set(BigInt(sequence!), payload!);
      }
    });
    proc.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    const sealedBefore = indexFiles(dir).length;
    const deadline = Date.now() + 20_000;
    // Wait for several rolls of this round (each seals a segment), plus a varied number of acknowledgements.
    while (indexFiles(dir).length < sealedBefore + 4 + round || acked.size < 50 * (round + 1)) {
      if (proc.exitCode !== null) throw new Error(`the child exited: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`not enough rolls after 20 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 5)); // polling the directory, with a deadline
    }
    proc.kill("SIGKILL");
    await exited;
    const log = await SegmentLog.open({ dir });
    const read = new Map((await readAll(log)).map((r) => [r.sequence, r.payload.toString()]));
    const sealed = log.stats.openSealedIndexes;
    await log.close();
    const lost = [...acked].filter(([s, p]) => read.get(s) !== p);
    assert.equal(lost, [], `round ${round}: acknowledged records lost or changed`);
    assert.ok(sealed > 0, "the reopen used sealed indexes");
    assert.equal(
      readdirSync(dir).filter((n) => n.endsWith(".tmp")),
      [],
      "a killed index write's temporary file is removed at open",
    );
  }
});

test.run();
