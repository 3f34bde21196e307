/**
 * `session-events log repair` and `log upgrade`, as real processes on real
 * data directories (DESIGN.md, storage rule 2: repair is an explicit command
 * that moves bytes aside and never deletes them).
 */
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";
import { crc32 } from "node:zlib";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LogCorruptionError, SegmentLog } from "../src/store/segment-log.js";
import { logEntryBytes, sampleEvents } from "./support/archive-log.js";
import { tempDir } from "./support/repo.js";
import { copyDataDir, parseSegment, readAll, runCli, segmentPaths } from "./support/segments.js";

interface Written {
  readonly dir: string;
  readonly records: { sequence: bigint; payload: Buffer }[];
}

/** 20 records in two segments: singles, a group 4-6, singles 7-17, and the last write a group 18-20. */
async function writeLog(): Promise<Written> {
  const dir = tempDir("log-repair-");
  const log = await SegmentLog.open({ dir, segmentBytes: 512 });
  const records: { sequence: bigint; payload: Buffer }[] = [];
  const payload = (i: number) => Buffer.from(`payload of record ${String(i).padStart(2, "0")}`);
  const add = async (...ids: number[]) => {
    const first = await log.appendGroup(ids.map(payload));
    for (const [k, id] of ids.entries()) records.push({ sequence: first + BigInt(k), payload: payload(id) });
  };
  for (const i of [1, 2, 3]) await add(i);
  await add(4, 5, 6);
  for (const i of [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]) await add(i);
  await add(18, 19, 20);
  await log.close();
  assert.equal(
    records.map((r) => r.sequence),
    Array.from({ length: 20 }, (_, i) => BigInt(i + 1)),
  );
  assert.is(segmentPaths(dir).length, 2, "two segments");
  return { dir, records };
}

const lines = (text: string, prefix: string) => text.split("\n").filter((l) => l.startsWith(prefix));

test("repair of a flipped payload byte mid-log: exit 1, names exactly the removed record, moves exactly its bytes aside, and the log opens", async () => {
  const original = await writeLog();
  const dir = tempDir("log-repair-flip-");
  copyDataDir(original.dir, dir);
  const [firstFile] = segmentPaths(dir);
  const before = readFileSync(firstFile!);
  const frames = parseSegment(before);
  const victim = frames.find((f) => f.sequence === 8n)!;
  const flipped = Buffer.from(before);
  flipped[victim.offset + 24 + 7] ^= 0x20; // a payload byte of record 8
  writeFileSync(firstFile!, flipped);

  // The segment is sealed (it has an index), so open does not read it: reading record 8 is refused.
  const damaged = await SegmentLog.open({ dir });
  const refused = await readAll(damaged).then(
    () => undefined,
    (e: unknown) => e,
  );
  await damaged.close();
  assert.instance(refused, LogCorruptionError, "the damaged record is refused when read, before repair");
  assert.ok((refused as LogCorruptionError).segment === firstFile, "the refusal names the segment");

  const repair = runCli(["log", "repair", dir]);
  assert.is(repair.status, 1, repair.stdout + repair.stderr);
  assert.equal(lines(repair.stdout, "removed:"), ["removed: record 8"], repair.stdout);
  const aside = `${firstFile}.damaged-${victim.offset}`;
  assert.equal(lines(repair.stdout, "moved aside:"), [`moved aside: ${aside}`]);
  assert.match(repair.stdout, /records that may have been acknowledged were set aside/);
  // Exactly the damaged frame was moved, byte for byte; nothing was deleted.
  const moved = readFileSync(aside);
  assert.ok(
    moved.equals(flipped.subarray(victim.offset, victim.offset + victim.size)),
    "the file aside holds exactly the damaged frame",
  );
  const after = readFileSync(firstFile!);
  assert.is(before.length, after.length + moved.length, "original size == kept + moved aside");
  assert.equal(
    parseSegment(after).map((f) => [f.sequence, f.payload.toString()]),
    frames.filter((f) => f !== victim).map((f) => [f.sequence, f.payload.toString()]),
    "the segment keeps every other record",
  );
  const journal = readFileSync(path.join(dir, "REPAIRS"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, string>);
  assert.equal(
    journal.map((g) => [g.after, g.next]),
    [["7", "9"]],
    "the gap is journalled",
  );
  assert.ok(
    readFileSync(segmentPaths(dir)[1]!).equals(readFileSync(segmentPaths(original.dir)[1]!)),
    "the undamaged segment is untouched",
  );

  // The collector's log opens and reads every other record, byte for byte, and goes on.
  const log = await SegmentLog.open({ dir });
  assert.equal(
    await readAll(log),
    original.records.filter((r) => r.sequence !== 8n),
  );
  assert.is(log.lastSequence, 20n);
  assert.is(await log.append(Buffer.from("after repair")), 21n);
  await log.close();
  const reopened = await SegmentLog.open({ dir });
  assert.is((await readAll(reopened)).length, 20);
  await reopened.close();

  // A second repair is a no-op; verify is clean.
  const files = readdirSync(dir).sort();
  const segmentBytes = segmentPaths(dir).map((f) => readFileSync(f));
  const again = runCli(["log", "repair", dir]);
  assert.is(again.status, 0, again.stdout + again.stderr);
  assert.equal(lines(again.stdout, "removed:"), []);
  assert.equal(lines(again.stdout, "moved aside:"), []);
  assert.match(again.stdout, /repaired: nothing acknowledged was set aside/);
  assert.equal(readdirSync(dir).sort(), files, "no file added or removed");
  assert.ok(
    segmentPaths(dir).every((f, i) => readFileSync(f).equals(segmentBytes[i]!)),
    "no segment rewritten",
  );
  const verify = runCli(["log", "verify", dir]);
  assert.is(verify.status, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /^clean$/m);
});

test("repair of a crash tail only (the last group's last frame cut short): exit 0, nothing acknowledged, the torn bytes moved aside", async () => {
  const original = await writeLog();
  const dir = tempDir("log-repair-tail-");
  copyDataDir(original.dir, dir);
  const lastFile = segmentPaths(dir).at(-1)!;
  const before = readFileSync(lastFile);
  const frames = parseSegment(before);
  const groupStart = frames.at(-3)!; // records 18, 19, 20: one group
  assert.is(groupStart.sequence, 18n);
  const cut = before.length - 5;
  truncateSync(lastFile, cut);

  const repair = runCli(["log", "repair", dir]);
  assert.is(repair.status, 0, repair.stdout + repair.stderr);
  assert.match(repair.stdout, /repaired: nothing acknowledged was set aside/);
  assert.match(
    repair.stdout,
    new RegExp(`unfinished at byte ${groupStart.offset} \\(${cut - groupStart.offset} bytes\\) \\[torn\\]`),
  );
  assert.equal(lines(repair.stdout, "removed:"), []);
  const aside = `${lastFile}.damaged-${groupStart.offset}`;
  const moved = readFileSync(aside);
  assert.ok(moved.equals(before.subarray(groupStart.offset, cut)), "the torn group is moved aside whole");
  assert.is(statSync(lastFile).size + moved.length, cut, "kept + moved aside == what was there");

  const log = await SegmentLog.open({ dir });
  assert.equal(
    await readAll(log),
    original.records.slice(0, 17),
    "every record of a whole group is kept, none of the torn one",
  );
  assert.is(await log.append(Buffer.from("after")), 18n);
  await log.close();
  const verify = runCli(["log", "verify", dir]);
  assert.is(verify.status, 0, verify.stdout + verify.stderr);
});

/** A format-1 segment (session-events 0.1.0): no header; frames of u32 length, u32 CRC-32 of (u64 sequence + payload), u64 sequence, payload. */
function format1Segment(records: readonly { sequence: bigint; payload: Uint8Array }[]): Buffer {
  return Buffer.concat(
    records.map(({ sequence, payload }) => {
      const frame = Buffer.alloc(16 + payload.length);
      frame.writeUInt32LE(payload.length, 0);
      frame.writeBigUInt64LE(sequence, 8);
      frame.set(payload, 16);
      frame.writeUInt32LE(crc32(frame.subarray(8)), 4);
      return frame;
    }),
  );
}

test("`log upgrade` copies a format-1 directory record for record; the collector refuses the old one, naming the command", async () => {
  const old = tempDir("log-format1-");
  const records = sampleEvents(10).map((e, i) => ({ sequence: BigInt(i + 1), payload: Buffer.from(logEntryBytes(e)) }));
  writeFileSync(path.join(old, "00000000000000000001.seg"), format1Segment(records.slice(0, 6)));
  writeFileSync(path.join(old, "00000000000000000007.seg"), format1Segment(records.slice(6)));
  const oldBytes = segmentPaths(old).map((f) => readFileSync(f));

  try {
    await SegmentLog.open({ dir: old });
    assert.unreachable("opened a format-1 directory");
  } catch (e) {
    assert.instance(e, LogCorruptionError);
    assert.is((e as LogCorruptionError).rule, "format");
    assert.match(
      (e as Error).message,
      /00000000000000000001\.seg at byte 0: written by session-events 0\.1\.0 \(log format 1/,
    );
    assert.ok((e as Error).message.includes(`session-events log upgrade ${old} NEW_DIR`), (e as Error).message);
  }

  const fresh = path.join(tempDir("log-format2-"), "new");
  const upgrade = runCli(["log", "upgrade", old, fresh]);
  assert.is(upgrade.status, 0, upgrade.stdout + upgrade.stderr);
  assert.match(upgrade.stdout, /upgraded: 10 records \(last sequence 10\)/);
  const log = await SegmentLog.open({ dir: fresh });
  assert.equal(await readAll(log), records, "every record, with its sequence and bytes");
  await log.close();
  const verify = runCli(["log", "verify", fresh]);
  assert.is(verify.status, 0, verify.stdout + verify.stderr);
  // The old directory is only read.
  assert.equal(readdirSync(old).sort(), ["00000000000000000001.seg", "00000000000000000007.seg"]);
  assert.ok(
    segmentPaths(old).every((f, i) => readFileSync(f).equals(oldBytes[i]!)),
    "the old segments are unchanged",
  );
});

test.run();
