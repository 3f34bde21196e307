/**
 * Fault tests of the durable log (DESIGN.md, "Storage: the rules every
 * engine keeps", rules 1, 2, 3 and 8): every bit of a small two-segment log
 * flipped, the last segment truncated at every byte, zero fill, and
 * `log verify` on damage, against the real SegmentLog and the real CLI.
 */
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LogCorruptionError, SegmentLog, type DamageReport } from "../src/store/segment-log.js";
import { tempDir } from "./support/repo.js";
import {
  copyDataDir,
  groupEnds,
  parseSegment,
  readAll,
  runCli,
  scratchDir,
  segmentPaths,
  SEGMENT_HEADER,
  type ParsedFrame,
} from "./support/segments.js";

const RULES = new Set([
  "torn",
  "checksum",
  "framing",
  "sequence",
  "segment_header",
  "format",
  "missing_segment",
  "repairs",
]);

interface Fixture {
  readonly dir: string;
  /** Every acknowledged record, in order. */
  readonly records: readonly { sequence: bigint; payload: Buffer }[];
  /** Segment files (full paths in `dir`), their original bytes and frames. */
  readonly segments: readonly { file: string; bytes: Buffer; frames: ParsedFrame[] }[];
}

/**
 * A small log of 22 records in two segments, with an atomic group of three
 * in each (the last write of all is a group): singles 1-4, group 5-7,
 * singles 8-11 | singles 12-14, group 15-17, singles 18-19, group 20-22.
 */
async function writeFixture(): Promise<Fixture> {
  const dir = tempDir("log-faults-");
  const log = await SegmentLog.open({ dir, segmentBytes: 400 });
  const records: { sequence: bigint; payload: Buffer }[] = [];
  const payload = (i: number) => Buffer.from(`record-${String(i).padStart(2, "0")}-x`);
  const single = async (i: number) => records.push({ sequence: await log.append(payload(i)), payload: payload(i) });
  const group = async (i: number) => {
    const first = await log.appendGroup([payload(i), payload(i + 1), payload(i + 2)]);
    for (let k = 0; k < 3; k++) records.push({ sequence: first + BigInt(k), payload: payload(i + k) });
  };
  for (const i of [1, 2, 3, 4]) await single(i);
  await group(5);
  for (const i of [8, 9, 10, 11]) await single(i);
  for (const i of [12, 13, 14]) await single(i);
  await group(15);
  for (const i of [18, 19]) await single(i);
  await group(20);
  await log.close();
  assert.equal(
    records.map((r) => r.sequence),
    Array.from({ length: 22 }, (_, i) => BigInt(i + 1)),
    "the fixture's sequences",
  );
  const segments = segmentPaths(dir).map((file) => {
    const bytes = readFileSync(file);
    return { file, bytes, frames: parseSegment(bytes) };
  });
  assert.is(segments.length, 2, "the fixture has two segments");
  assert.equal(
    segments.map((s) => s.frames.length),
    [11, 11],
  );
  assert.equal(
    segments[1]!.frames.map((f) => f.continues).slice(-3),
    [true, true, false],
    "the last write is a group of three",
  );
  return { dir, records, segments };
}

/** Where the damage at byte `at` of a segment must be reported: its segment header (0) or the start of its frame. */
function unitStart(frames: readonly ParsedFrame[], at: number): number {
  if (at < SEGMENT_HEADER) return 0;
  return frames.find((f) => at >= f.offset && at < f.offset + f.size)!.offset;
}

const fixture = await writeFixture();

test("bit flips: every bit of every byte of both segments is refused with segment, offset and rule (at open, or for a sealed segment's records when read), or harmless; none loses or cuts a record", async () => {
  const work = scratchDir("log-flips-");
  copyDataDir(fixture.dir, work);
  const files = fixture.segments.map((s) => path.join(work, path.basename(s.file)));
  const counts = { trials: 0, refused: 0, harmless: 0, lost: 0, cut: 0 };
  const byRule = new Map<string, number>();
  const failures: string[] = [];
  for (const [si, segment] of fixture.segments.entries()) {
    const file = files[si]!;
    for (let at = 0; at < segment.bytes.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        counts.trials++;
        const where = `${path.basename(file)} byte ${at} bit ${bit}`;
        const flipped = segment.bytes[at]! ^ (1 << bit);
        const fd = openSync(file, "r+");
        writeSync(fd, Buffer.from([flipped]), 0, 1, at);
        closeSync(fd);
        const damage: DamageReport[] = [];
        let log: SegmentLog | undefined;
        const refused = (e: unknown, when: string) => {
          if (!(e instanceof LogCorruptionError))
            throw new Error(
              `${where}: ${when} failed with something other than LogCorruptionError: ${(e as Error).stack}`,
            );
          counts.refused++;
          byRule.set(e.rule, (byRule.get(e.rule) ?? 0) + 1);
          const expected = unitStart(segment.frames, at);
          if (e.segment !== file || e.offset !== expected || !RULES.has(e.rule)) {
            failures.push(
              `${where}: refused as ${e.segment} at ${e.offset} [${e.rule}], expected ${file} at ${expected}`,
            );
          }
          if (!e.message.includes(`${path.basename(file)} at byte ${expected}:`) || !e.message.includes(`[${e.rule}]`))
            failures.push(`${where}: the message does not name segment, offset and rule: ${e.message}`);
        };
        try {
          log = await SegmentLog.open({ dir: work, onDamage: (r) => damage.push(r) });
        } catch (e) {
          refused(e, "open");
        }
        if (log) {
          // It opened: every acknowledged record must be there, byte for byte, and nothing may have been cut.
          let records: { sequence: bigint; payload: Buffer }[] = [];
          let readError: unknown;
          try {
            records = await readAll(log);
          } catch (e) {
            readError = e;
          }
          const lastSequence = log.lastSequence;
          await log.close();
          // A closed segment with a sealed index is not read at open: its damage is refused when its records are read.
          const sealedSegmentRefused =
            si < fixture.segments.length - 1 &&
            readError instanceof LogCorruptionError &&
            lastSequence === BigInt(fixture.records.length);
          const intact =
            readError === undefined &&
            lastSequence === BigInt(fixture.records.length) &&
            records.length === fixture.records.length &&
            records.every(
              (r, i) => r.sequence === fixture.records[i]!.sequence && r.payload.equals(fixture.records[i]!.payload),
            );
          if (intact) counts.harmless++;
          else if (sealedSegmentRefused) refused(readError, "read");
          else {
            counts.lost++;
            failures.push(
              `${where}: opened, but the records read back differ (${records.length} records, last ${lastSequence}${readError ? `, read failed: ${(readError as Error).message}` : ""})`,
            );
          }
          if (damage.length > 0) {
            counts.cut++;
            failures.push(`${where}: a flip was cut as a crash tail: ${JSON.stringify(damage)}`);
          }
        }
        // Restore the flipped byte, then check that open changed nothing else (a cut would have shortened a file).
        const restore = openSync(file, "r+");
        writeSync(restore, segment.bytes, at, 1, at);
        closeSync(restore);
        for (const [k, s] of fixture.segments.entries()) {
          if (!readFileSync(files[k]!).equals(s.bytes)) {
            failures.push(
              `${where}: open changed ${path.basename(files[k]!)} (now ${statSync(files[k]!).size} bytes, was ${s.bytes.length})`,
            );
            writeFileSync(files[k]!, s.bytes);
          }
        }
      }
    }
  }
  rmSync(work, { recursive: true, force: true });
  console.log(
    `  bit flips over ${fixture.segments.map((s) => s.bytes.length).join(" + ")} bytes x 8 bits = ${counts.trials}: refused ${counts.refused}, harmless ${counts.harmless}, LOST ${counts.lost}, cut ${counts.cut}` +
      ` (refused by rule: ${[...byRule].map(([r, n]) => `${r} ${n}`).join(", ")})`,
  );
  assert.equal(failures.slice(0, 20), [], `${failures.length} failing flips`);
  assert.is(counts.lost, 0, "LOST");
  assert.is(counts.cut, 0, "flips cut as a crash tail");
  assert.is(counts.refused + counts.harmless, counts.trials);
});

test("truncation at every byte of the last segment (a crash image): opens, keeps exactly the whole groups before the cut, and appends after", async () => {
  const work = scratchDir("log-cuts-");
  const [first, last] = fixture.segments as [Fixture["segments"][0], Fixture["segments"][0]];
  const lastFile = path.join(work, path.basename(last.file));
  const ends = new Set(groupEnds(last.frames));
  const kept = new Map<number, number>(); // survivors -> cuts, for the printout
  const failures: string[] = [];
  for (let cut = 0; cut <= last.bytes.length; cut++) {
    copyDataDir(fixture.dir, work);
    truncateSync(lastFile, cut);
    // What must survive: segment 1 whole, and each record of segment 2 whose group ended at or before the cut.
    const groupEnd = (f: ParsedFrame) => last.frames.find((g) => g.offset >= f.offset && !g.continues)!;
    const survivingInLast = last.frames.filter((f) => {
      const end = groupEnd(f);
      return end.offset + end.size <= cut;
    });
    const expected = fixture.records.slice(0, first.frames.length + survivingInLast.length);
    const damage: DamageReport[] = [];
    const log = await SegmentLog.open({ dir: work, onDamage: (r) => damage.push(r) });
    const records = await readAll(log);
    const where = `cut at ${cut}`;
    if (log.lastSequence !== BigInt(expected.length))
      failures.push(`${where}: lastSequence ${log.lastSequence}, expected ${expected.length}`);
    if (
      records.length !== expected.length ||
      !records.every((r, i) => r.sequence === expected[i]!.sequence && r.payload.equals(expected[i]!.payload))
    ) {
      failures.push(`${where}: read back ${records.map((r) => r.sequence).join(",")}, expected 1..${expected.length}`);
    }
    // A cut inside a frame or a group is reported as a crash tail; a cut at a group end or inside the segment header is not damage.
    const torn = cut > SEGMENT_HEADER && !ends.has(cut);
    if (torn !== (damage.length === 1))
      failures.push(`${where}: ${damage.length} damage report(s), expected ${torn ? 1 : 0}`);
    // Appending after recovery works, and a reopen reads it after the survivors.
    const after = Buffer.from(`after-cut-${cut}`);
    const sequence = await log.append(after);
    await log.close();
    if (sequence !== BigInt(expected.length + 1))
      failures.push(`${where}: the append after recovery got sequence ${sequence}, expected ${expected.length + 1}`);
    try {
      const reopened = await SegmentLog.open({ dir: work });
      const again = await readAll(reopened);
      await reopened.close();
      if (
        again.length !== expected.length + 1 ||
        !again.at(-1)!.payload.equals(after) ||
        again.at(-1)!.sequence !== sequence
      ) {
        failures.push(`${where}: after the append, a reopen read ${again.map((r) => r.sequence).join(",")}`);
      }
    } catch (e) {
      failures.push(`${where}: the reopen after appending failed: ${(e as Error).message}`);
    }
    kept.set(survivingInLast.length, (kept.get(survivingInLast.length) ?? 0) + 1);
    // A fresh directory for each cut: no leftovers from the previous one.
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work);
  }
  rmSync(work, { recursive: true, force: true });
  console.log(
    `  truncations of the last segment at ${last.bytes.length + 1} offsets: records of it kept -> cuts: ${[...kept].map(([k, n]) => `${k}:${n}`).join(" ")}`,
  );
  assert.equal(failures.slice(0, 20), [], `${failures.length} failing cuts`);
});

test("zero fill after the last record (4096 zeros) is cut as a crash tail; every record stays", async () => {
  const work = tempDir("log-zeros-");
  copyDataDir(fixture.dir, work);
  const lastFile = path.join(work, path.basename(fixture.segments[1]!.file));
  appendFileSync(lastFile, Buffer.alloc(4096));
  const damage: DamageReport[] = [];
  const log = await SegmentLog.open({ dir: work, onDamage: (r) => damage.push(r) });
  const records = await readAll(log);
  assert.equal(records, fixture.records);
  assert.is(damage.length, 1);
  assert.is(damage[0]!.bytesCut, 4096);
  assert.is(damage[0]!.offset, fixture.segments[1]!.bytes.length);
  assert.match(damage[0]!.reason, /zero fill/);
  assert.is(statSync(lastFile).size, fixture.segments[1]!.bytes.length, "the zeros were cut");
  assert.is(await log.append(Buffer.from("after zeros")), 23n);
  await log.close();
});

test("`log verify` on flipped copies names each damaged segment, offset and rule, and exits 1; on the original it exits 0", () => {
  const clean = runCli(["log", "verify", fixture.dir]);
  assert.is(clean.status, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /clean/);

  const work = tempDir("log-verify-");
  copyDataDir(fixture.dir, work);
  const [first, last] = fixture.segments;
  // A payload byte of record 3 in the first segment, and the length of record 13 in the second.
  const record3 = first!.frames[2]!;
  const record13 = last!.frames[1]!;
  const a = Buffer.from(first!.bytes);
  a[record3.offset + 24 + 4] ^= 0x01;
  writeFileSync(path.join(work, path.basename(first!.file)), a);
  const b = Buffer.from(last!.bytes);
  b[record13.offset] ^= 0x80;
  writeFileSync(path.join(work, path.basename(last!.file)), b);

  const result = runCli(["log", "verify", work]);
  assert.is(result.status, 1, result.stdout + result.stderr);
  const text = result.stdout;
  const firstFile = path.join(work, path.basename(first!.file));
  const lastFile = path.join(work, path.basename(last!.file));
  assert.ok(text.includes(`${firstFile}:`), text);
  assert.match(
    text,
    new RegExp(
      `DAMAGE at byte ${record3.offset} \\(${record3.size} bytes\\) \\[checksum\\]: payload checksum mismatch \\(record 3\\)`,
    ),
  );
  assert.ok(text.includes(`${lastFile}:`), text);
  assert.match(
    text,
    new RegExp(`DAMAGE at byte ${record13.offset} \\(\\d+ bytes\\) \\[framing\\]: frame header checksum mismatch`),
  );
  assert.match(text, /damaged: the collector will refuse to open this directory/);
  // The order of the report follows the segments.
  assert.ok(text.indexOf(firstFile) < text.indexOf(lastFile));
});

test("a refused open and a read left early close every file they opened", async () => {
  // Each refused open used to leave its segment's descriptor to the garbage collector.
  const openFds = () => readdirSync("/proc/self/fd").length;
  const work = tempDir("log-fds-");
  copyDataDir(fixture.dir, work);
  const flipped = Buffer.from(fixture.segments[0]!.bytes);
  flipped[fixture.segments[0]!.frames[5]!.offset + 30] ^= 0x10;
  writeFileSync(path.join(work, path.basename(fixture.segments[0]!.file)), flipped);
  rmSync(path.join(work, `${path.basename(fixture.segments[0]!.file)}.idx`)); // so that open scans it, and refuses
  const before = openFds();
  for (let i = 0; i < 20; i++) {
    try {
      await SegmentLog.open({ dir: work });
      assert.unreachable("opened a damaged log");
    } catch (e) {
      assert.instance(e, LogCorruptionError);
    }
  }
  assert.is(openFds(), before, "descriptors left open by refused opens");
  const log = await SegmentLog.open({ dir: fixture.dir, readOnly: true });
  const holding = openFds();
  for (let i = 0; i < 20; i++) {
    for await (const record of log.read(3n)) {
      assert.is(record.sequence, 3n);
      break; // a subscriber that goes away
    }
  }
  assert.is(openFds(), holding, "descriptors left open by reads left early");
  await log.close();
});

test.run();
