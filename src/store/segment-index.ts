/**
 * The index of a sealed segment: written beside a segment once it is closed
 * (`NAME.seg.idx`), so that opening the log need not read the segment's
 * bytes to learn its sequences and where its records start. It holds the
 * segment's size, first and last sequence and the sparse (sequence, offset)
 * entries reads seek by, under a format version and a CRC over all of it.
 *
 * It is derived data, a cache: a missing, damaged or stale one (its size or
 * first sequence is not the segment's) is ignored, and the segment is
 * scanned as before. The segment's own checksums are still checked when its
 * records are read, and by `log verify`.
 */
import { readdir, readFile, unlink } from "node:fs/promises";
import path from "node:path";
import { crc32 } from "node:zlib";
import { writeFileAtomic } from "./atomic-write.js";

const MAGIC = Buffer.from("SEVTIDX\n", "latin1");
const VERSION = 1;
/** magic, version (u32), entry count (u32), size, first, last (u64 each). */
const HEAD_BYTES = MAGIC.length + 4 + 4 + 8 * 3;
const ENTRY_BYTES = 16;
const CRC_BYTES = 4;
const SUFFIX = ".idx";

/** What opening the log needs to know of a closed segment. */
export interface SealedSegment {
  /** The segment file's size in bytes. */
  readonly size: number;
  readonly first: bigint;
  /** Its last sequence (first - 1 when it holds no record). */
  readonly last: bigint;
  /** Sparse (sequence, offset) of group starts, ascending. */
  readonly index: readonly { sequence: bigint; offset: number }[];
}

export const indexFileFor = (segmentFile: string) => `${segmentFile}${SUFFIX}`;

export function encodeSegmentIndex(sealed: SealedSegment): Buffer {
  const buf = Buffer.alloc(HEAD_BYTES + sealed.index.length * ENTRY_BYTES + CRC_BYTES);
  MAGIC.copy(buf, 0);
  let at = MAGIC.length;
  at = buf.writeUInt32LE(VERSION, at);
  at = buf.writeUInt32LE(sealed.index.length, at);
  at = buf.writeBigUInt64LE(BigInt(sealed.size), at);
  at = buf.writeBigUInt64LE(sealed.first, at);
  at = buf.writeBigUInt64LE(sealed.last, at);
  for (const entry of sealed.index) {
    at = buf.writeBigUInt64LE(entry.sequence, at);
    at = buf.writeBigUInt64LE(BigInt(entry.offset), at);
  }
  buf.writeUInt32LE(crc32(buf.subarray(0, at)), at);
  return buf;
}

/** The index in `buf`, or why it cannot be used. */
export function decodeSegmentIndex(buf: Buffer): SealedSegment | { readonly invalid: string } {
  if (buf.length < HEAD_BYTES + CRC_BYTES) return { invalid: "shorter than its header" };
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) return { invalid: "not a segment index (magic)" };
  const count = buf.readUInt32LE(MAGIC.length + 4);
  const end = HEAD_BYTES + count * ENTRY_BYTES;
  if (buf.length !== end + CRC_BYTES)
    return { invalid: `length ${buf.length}, ${count} entries need ${end + CRC_BYTES}` };
  if (buf.readUInt32LE(end) !== crc32(buf.subarray(0, end))) return { invalid: "checksum mismatch" };
  const version = buf.readUInt32LE(MAGIC.length);
  if (version !== VERSION) return { invalid: `version ${version}, this build reads ${VERSION}` };
  let at = MAGIC.length + 8;
  const size = Number(buf.readBigUInt64LE(at));
  const first = buf.readBigUInt64LE(at + 8);
  const last = buf.readBigUInt64LE(at + 16);
  at = HEAD_BYTES;
  const index: { sequence: bigint; offset: number }[] = [];
  for (let i = 0; i < count; i++, at += ENTRY_BYTES)
    index.push({ sequence: buf.readBigUInt64LE(at), offset: Number(buf.readBigUInt64LE(at + 8)) });
  // A checksum holds over what a bug wrote too: entries must still make sense.
  const ordered = index.every(
    (e, i) =>
      e.sequence >= first &&
      e.sequence <= last &&
      e.offset < size &&
      (i === 0 || (e.sequence > index[i - 1]!.sequence && e.offset > index[i - 1]!.offset)),
  );
  if (!ordered || last < first - 1n) return { invalid: "entries out of order or outside the segment" };
  return { size, first, last, index };
}

/** The sealed index of `segment`, if there is one that matches the file as it is now (its size and first sequence). */
export async function readSegmentIndex(segment: {
  file: string;
  first: bigint;
  size: number;
}): Promise<SealedSegment | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(indexFileFor(segment.file));
  } catch {
    return undefined; // missing or unreadable: scan instead
  }
  const sealed = decodeSegmentIndex(buf);
  if ("invalid" in sealed || sealed.size !== segment.size || sealed.first !== segment.first) return undefined;
  return sealed;
}

/** Write a closed segment's index beside it, atomically (a crash leaves the old file or none, never half of one). */
export async function writeSegmentIndex(segmentFile: string, sealed: SealedSegment): Promise<void> {
  await writeFileAtomic(indexFileFor(segmentFile), encodeSegmentIndex(sealed));
}

/** Remove a segment's index, if it has one. */
export async function removeSegmentIndex(segmentFile: string): Promise<void> {
  try {
    await unlink(indexFileFor(segmentFile));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

/** writeFileAtomic's temporary name for an index (`.NAME.seg.idx.PID.TIME.tmp`). */
const TEMPORARY = /^\.\d{20}\.seg\.idx\..*\.tmp$/;

/**
 * Remove the indexes whose segment is gone (a crash between the two unlinks
 * of retention), and the temporary files of index writes a crash stopped.
 * Called with the log's lock held: no other writer's temporary is in flight.
 */
export async function removeOrphanIndexes(dir: string, segmentFiles: readonly string[]): Promise<void> {
  const held = new Set(segmentFiles.map((f) => path.basename(f)));
  for (const name of await readdir(dir)) {
    if (TEMPORARY.test(name)) {
      await unlink(path.join(dir, name)).catch(() => undefined); // a leftover: gone either way
      continue;
    }
    if (!name.endsWith(`.seg${SUFFIX}`) || held.has(name.slice(0, -SUFFIX.length))) continue;
    await removeSegmentIndex(path.join(dir, name.slice(0, -SUFFIX.length)));
  }
}
