/**
 * Segment files of a data directory: their names, their headers, and
 * reading one segment's frames. Shared by the log (recovery, reads), the
 * `log verify` / `log repair` commands and archives.
 */
import { open, readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { LogCorruptionError } from "./errors.js";
import { SEGMENT_HEADER_BYTES, decodeSegmentHeader, encodeSegmentHeader, isZero } from "./frame.js";
import type { ByteWindow } from "./byte-window.js";
import { fileWindow, readFrameBatches, readFrames, type FrameItem, type FrameReadEnd } from "./frame-reader.js";
import { looksLikeFormat1 } from "./format1.js";
import { syncPath } from "./fsync.js";

const SEGMENT = /^(\d{20})\.seg$/;
export const segmentName = (first: bigint) => `${first.toString().padStart(20, "0")}.seg`;

/** A segment file as listed: its path, first sequence (from its name) and size. */
export interface SegmentFile {
  readonly file: string;
  readonly first: bigint;
  readonly size: number;
}

/** The segments of a data directory, in sequence order. */
export async function listSegments(dir: string): Promise<SegmentFile[]> {
  const names = (await readdir(dir)).filter((n) => SEGMENT.test(n)).sort();
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(dir, name);
      return { file, first: BigInt(SEGMENT.exec(name)![1]!), size: (await stat(file)).size };
    }),
  );
}

export type HeaderCheck =
  | { readonly kind: "ok" }
  /** The last segment's header never reached the disk whole (a crash while creating it): it holds nothing. */
  | { readonly kind: "unfinished" };

/**
 * Check a segment's header against its name. Throws LogCorruptionError for
 * damage, and for a segment of another format (0.1.0's, say) with how to
 * convert it.
 */
export async function checkSegmentHeader(segment: SegmentFile, isLast: boolean): Promise<HeaderCheck> {
  const head = await readHead(segment.file, SEGMENT_HEADER_BYTES);
  const header = decodeSegmentHeader(head);
  if (header.kind === "header") {
    if (header.first !== segment.first)
      throw new LogCorruptionError(
        segment.file,
        0,
        "segment_header",
        `header says the first record is ${header.first}, the name says ${segment.first}`,
      );
    return { kind: "ok" };
  }
  const expected = encodeSegmentHeader(segment.first);
  if (
    isLast &&
    segment.size <= SEGMENT_HEADER_BYTES &&
    (isZero(head) || expected.subarray(0, head.length).equals(head))
  )
    return { kind: "unfinished" };
  if (header.kind === "foreign" && (await looksLikeFormat1(segment.file))) {
    throw new LogCorruptionError(
      segment.file,
      0,
      "format",
      `written by session-events 0.1.0 (log format 1, no segment header); this version reads format 2. ` +
        `Convert the directory with \`session-events log upgrade ${path.dirname(segment.file)} NEW_DIR\`, then serve NEW_DIR`,
    );
  }
  throw new LogCorruptionError(segment.file, 0, header.kind === "foreign" ? "format" : "segment_header", header.reason);
}

/** Create an empty segment: its header written and fsync'ed, and its name made durable. */
export async function createSegment(dir: string, first: bigint): Promise<SegmentFile> {
  const file = path.join(dir, segmentName(first));
  const handle = await open(file, "w");
  try {
    await handle.writeFile(encodeSegmentHeader(first));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncPath(dir); // make the new file's name durable too
  return { file, first, size: SEGMENT_HEADER_BYTES };
}

/**
 * The frames of one segment from `start` (a frame boundary) to `size`.
 * Stopping early (damage that refuses an open, a read that ends, a
 * subscriber that goes away) must call `return()`: it closes the file.
 */
export async function* segmentFrames(
  segment: { file: string; first: bigint },
  size: number,
  options: {
    resync?: boolean;
    repairedGap?: (last: bigint) => bigint | undefined;
    start?: number;
    firstSequence?: bigint;
  } = {},
): AsyncGenerator<FrameItem, FrameReadEnd> {
  const start = options.start ?? SEGMENT_HEADER_BYTES;
  const window = fileWindow(segment.file, start, size);
  try {
    return yield* readFrames(window, {
      firstSequence: options.firstSequence ?? segment.first,
      resync: options.resync,
      totalBytes: size,
      repairedGap: options.repairedGap,
    });
  } finally {
    // readFrames does not own its window; without this, a reader left before
    // the end kept the segment's file descriptor open until garbage collection.
    await window.close();
  }
}

/**
 * Gaps in the sequence that `log repair` made on purpose, from the
 * directory's REPAIRS journal (one JSON object a line): after sequence
 * `after`, the next record is `next`.
 */
export async function loadRepairedGaps(dir: string): Promise<Map<bigint, bigint>> {
  const gaps = new Map<bigint, bigint>();
  let text: string;
  try {
    text = await readFile(path.join(dir, REPAIRS_FILE), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return gaps;
    throw e;
  }
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    try {
      const entry = JSON.parse(line) as { after?: string; next?: string };
      if (entry.after !== undefined && entry.next !== undefined) gaps.set(BigInt(entry.after), BigInt(entry.next));
    } catch {
      throw new LogCorruptionError(path.join(dir, REPAIRS_FILE), 0, "repairs", `line ${i + 1} is not a repair entry`);
    }
  }
  return gaps;
}

export const REPAIRS_FILE = "REPAIRS";

async function readHead(file: string, bytes: number): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * A segment as a byte stream (a file given to an archive job, standard
 * input): its header, then its frames, resynchronising after damage. A
 * damaged header is reported and the frames are still read. Items come in
 * batches (readFrameBatches): all the window holds, one await per chunk.
 */
export async function* readSegmentStream(
  window: ByteWindow,
  options: { expectedFirst?: bigint; totalBytes?: number; repairedGap?: (last: bigint) => bigint | undefined } = {},
): AsyncGenerator<FrameItem[], FrameReadEnd> {
  await window.want(SEGMENT_HEADER_BYTES);
  const head = window.view().subarray(0, SEGMENT_HEADER_BYTES);
  const header = decodeSegmentHeader(head);
  const first = options.expectedFirst;
  if (header.kind === "header") {
    if (first !== undefined && header.first !== first) {
      yield [
        {
          kind: "damage",
          rule: "sequence",
          message: `segment header says the first record is ${header.first}, the name says ${first}`,
          offset: 0,
          bytes: 0,
          crashTail: false,
        },
      ];
    }
  } else if (
    options.totalBytes !== undefined &&
    options.totalBytes <= SEGMENT_HEADER_BYTES &&
    (isZero(head) || (first !== undefined && encodeSegmentHeader(first).subarray(0, head.length).equals(head)))
  ) {
    window.skip(head.length);
    yield [
      {
        kind: "damage",
        rule: "torn",
        message: "a segment header that never reached the disk whole (a crash while creating the segment)",
        offset: 0,
        bytes: head.length,
        crashTail: true,
      },
    ];
    return { last: first === undefined ? undefined : first - 1n, endedInDamage: true, goodBytes: 0 };
  } else {
    yield [
      { kind: "damage", rule: "framing", message: header.reason, offset: 0, bytes: head.length, crashTail: false },
    ];
  }
  window.skip(head.length);
  // Sequences count up by one only in a data directory's segment (expectedFirst,
  // from its name). A segment on its own (a file, standard input) may be an
  // archive of a filtered log (`archive import` keeps the log's sequences):
  // there they need only increase, so a gap is not damage.
  return yield* readFrameBatches(window, {
    firstSequence: first,
    resync: true,
    totalBytes: options.totalBytes,
    repairedGap: options.repairedGap,
    views: true, // an archive job is done with each batch before it reads on
  });
}
