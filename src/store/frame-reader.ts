/**
 * The one reader of framed records (frame.ts), used by the log's recovery,
 * its reads and subscriptions, `log verify` / `log repair`, and archives.
 *
 * It yields records group by group (an atomic group only once its last frame
 * is read) and damage with where it is, the rule it breaks, and whether it is
 * what a crash mid-write leaves (frame.ts, crashTailReason). Two modes:
 *
 * - strict (the default): stop at the first damage. Recovery then cuts a
 *   crash tail and refuses anything else.
 * - resync (archives, repair): after damage, look for the next good frame
 *   and go on, so one damaged record costs that record. A frame is believed
 *   only if its header checksum and its payload checksum both hold.
 */
import { open } from "node:fs/promises";
import { crc32 } from "node:zlib";
import { crc32Of } from "./crc32.js";
import { ByteWindow } from "./byte-window.js";
import {
  HEADER_BYTES,
  MAX_PAYLOAD_BYTES,
  crashTailReason,
  decodeFrameHeader,
  payloadChecksumHolds,
  type FrameHeader,
} from "./frame.js";

export type FrameDamageRule = "torn" | "checksum" | "framing" | "sequence";

/**
 * A record the reader hands out. Its payload lies at chunk[start..end): a
 * copy of its own, or (with `views`) the bytes read, where `payload` is a
 * view made only when asked for. `sequence` is a BigInt made only when asked
 * for; `sequenceNumber` is the same sequence as a number (NaN past 2^53). A
 * reader of millions of small records (an archive job) reads the chunk and
 * the number, and allocates neither.
 */
export class FrameRecord {
  readonly kind = "record" as const;
  private view: Buffer | undefined;
  private big: bigint | undefined;

  constructor(
    readonly chunk: Buffer,
    readonly start: number,
    readonly end: number,
    readonly sequenceNumber: number,
    sequence: bigint | undefined,
    /** Byte offset of the frame in the input. */
    readonly offset: number,
    /** Bytes of the frame, header included. */
    readonly size: number,
  ) {
    this.big = sequence;
    if (start === 0 && end === chunk.length) this.view = chunk;
  }

  get payload(): Buffer {
    return (this.view ??= this.chunk.subarray(this.start, this.end));
  }

  get sequence(): bigint {
    return (this.big ??= BigInt(this.sequenceNumber));
  }
}

export type FrameItem =
  | FrameRecord
  | {
      readonly kind: "damage";
      readonly rule: FrameDamageRule;
      readonly message: string;
      readonly offset: number;
      /** Bytes of input the damage covers (to the next good frame, or the end). */
      readonly bytes: number;
      readonly sequence?: bigint;
      /** What a crash mid-write leaves: never acknowledged, and what recovery cuts. */
      readonly crashTail: boolean;
    };

export type FrameDamage = Extract<FrameItem, { kind: "damage" }>;

export interface FrameReadOptions {
  /** Sequences count up by exactly one from here (a segment's first). Otherwise they need only increase. */
  readonly firstSequence?: bigint;
  /** Go on after damage (archives, repair) instead of stopping at the first (recovery). */
  readonly resync?: boolean;
  /**
   * Bytes the input holds, when known (a file): the crash-tail rule looks at
   * everything from the damage to the end. Unknown (a stream): it looks
   * TAIL_PROBE_BYTES ahead, and a longer rest is not a crash tail.
   */
  readonly totalBytes?: number;
  /** Gaps `log repair` left on purpose: the sequence allowed to follow `last`, if any. */
  readonly repairedGap?: (last: bigint) => bigint | undefined;
  /**
   * Hand out payloads as views of the bytes read, not copies (archives: a
   * reader that is done with each batch before it asks for the next). A view
   * keeps its whole read chunk in memory as long as it is held.
   */
  readonly views?: boolean;
}

export interface FrameReadEnd {
  /**
   * The last sequence handed out (or the one before the first expected):
   * frames of a group that never got its last frame do not count.
   */
  readonly last: bigint | undefined;
  /** The input ended in damage (so a gap to the next segment is already reported). */
  readonly endedInDamage: boolean;
  /** Offset just past the last complete group: where a crash tail is cut. */
  readonly goodBytes: number;
}

/** Records handed out at once, at most: a chunk holds thousands, and all of them at once would hold megabytes of heap. */
const MAX_BATCH = 256;
const TAIL_PROBE_BYTES = 4 * 1024 * 1024 + HEADER_BYTES;
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);
/** Payloads up to this long have their CRC-32 computed in JavaScript (crc32.ts), longer ones by zlib. */
const JS_CRC_BYTES = 256;
/** A torn frame is at most one record long (MAX_PAYLOAD_BYTES), plus a sector or so of zeros. */
const MAX_TAIL_BYTES = HEADER_BYTES + MAX_PAYLOAD_BYTES + 4096;
/** Bytes ruled out while resynchronising are let go in steps of this size. */
const RESYNC_RELEASE = 64 * 1024;

export async function* readFrames(
  window: ByteWindow,
  options: FrameReadOptions = {},
): AsyncGenerator<FrameItem, FrameReadEnd> {
  const batches = readFrameBatches(window, options);
  try {
    for (let step = await batches.next(); ; step = await batches.next()) {
      if (step.done) return step.value;
      yield* step.value;
    }
  } finally {
    await batches.return(undefined as never); // a reader that stops early
  }
}

/**
 * readFrames' items in batches: every item the window's bytes already hold
 * is handed out in one array, before the reader waits for more input. A
 * reader of many small records (an archive job) then pays one await per
 * chunk read, not several per record.
 */
export async function* readFrameBatches(
  window: ByteWindow,
  options: FrameReadOptions = {},
): AsyncGenerator<FrameItem[], FrameReadEnd> {
  let batch: FrameItem[] = [];
  const contiguous = options.firstSequence !== undefined;
  let last = contiguous ? options.firstSequence! - 1n : undefined;
  // `last` counts the frames of the group being gathered (sequences must go
  // on within it); `handedOut` only those of groups handed out. Recovery
  // continues the log after `handedOut`: a torn group cut as a crash tail
  // must not count, or the next append leaves a gap that refuses to open.
  let handedOut = last;
  let afterDamage = false;
  let group: FrameRecord[] = [];
  let goodBytes = window.offset;
  // The common case (a frame of one record, whole in the window, its checksums good, the
  // next sequence) is read without a header object, a copy or BigInt arithmetic: `lastNumber`
  // is `last` as a number while it is exact (NaN otherwise: the general path then decides).
  const views = options.views === true;
  const exact = (n: bigint | undefined) => (n === undefined ? -1 : n <= MAX_EXACT ? Number(n) : NaN);
  let lastNumber = exact(last);
  let lastIsNumber = false; // `last` and `handedOut` trail `lastNumber`; sync() brings them up
  const sync = () => {
    if (!lastIsNumber) return;
    last = handedOut = BigInt(lastNumber);
    lastIsNumber = false;
  };

  /** Damage at the window's start: classify it, and (resync) move past it. */
  const damage = async (
    rule: FrameDamageRule,
    message: string,
    header: FrameHeader | undefined,
  ): Promise<FrameDamage> => {
    const offset = window.offset;
    const tail = await tailReason(window, options.totalBytes);
    if (tail !== undefined) {
      const bytes = await window.drain();
      // An open group before a crash tail was never acknowledged: it is part of the tail.
      if (group.length > 0) {
        const start = group[0]!.offset;
        const result: FrameDamage = {
          kind: "damage",
          rule: "torn",
          message: `a group of ${group.length} record(s) without its last frame, then ${tail}`,
          offset: start,
          bytes: offset - start + bytes,
          crashTail: true,
        };
        group = [];
        return result;
      }
      return {
        kind: "damage",
        rule: rule === "checksum" || rule === "framing" ? "torn" : rule,
        message: tail,
        offset,
        bytes,
        crashTail: true,
      };
    }
    if (!options.resync) return { kind: "damage", rule, message, offset, bytes: window.available, crashTail: false };
    const skipped = await resync(window, header, last);
    return {
      kind: "damage",
      rule,
      message: skipped.found
        ? `${message}; ${skipped.bytes} bytes skipped to the next good frame`
        : `${message}; ${skipped.bytes} bytes to the end skipped`,
      offset,
      bytes: skipped.bytes,
      crashTail: false,
    };
  };

  while (true) {
    let item: FrameDamage | undefined;
    if (batch.length >= MAX_BATCH || (window.available < HEADER_BYTES && batch.length > 0)) {
      yield batch; // what the window held, before waiting for more (or enough to work on)
      batch = [];
    }
    if (group.length === 0) {
      const bytes = window.bytes;
      const at = window.start;
      const available = bytes.length - at;
      if (available >= HEADER_BYTES) {
        const length = bytes.readUInt32LE(at);
        const size = HEADER_BYTES + length;
        const high = bytes.readUInt32LE(at + 12);
        const sequence = high * 2 ** 32 + bytes.readUInt32LE(at + 8);
        if (
          bytes.readUInt32LE(at + 4) === 0 && // flags: a group of one
          length <= MAX_PAYLOAD_BYTES &&
          available >= size &&
          high < 0x200000 && // below 2^53: exact as a number
          (contiguous ? sequence === lastNumber + 1 : sequence > lastNumber) && // NaN: the general path
          bytes.readUInt32LE(at + 20) === crc32Of(bytes, at, at + 20)
        ) {
          const start = at + HEADER_BYTES;
          const end = at + size;
          // A short payload's CRC in JavaScript: no view to make, no native call.
          const checksum = length <= JS_CRC_BYTES ? crc32Of(bytes, start, end) : crc32(bytes.subarray(start, end));
          if (bytes.readUInt32LE(at + 16) === checksum) {
            batch.push(
              views
                ? new FrameRecord(bytes, start, end, sequence, undefined, window.offset, size)
                : new FrameRecord(
                    Buffer.from(bytes.subarray(start, end)),
                    0,
                    length,
                    sequence,
                    undefined,
                    window.offset,
                    size,
                  ),
            );
            window.skip(size);
            lastNumber = sequence;
            lastIsNumber = true;
            afterDamage = false;
            goodBytes = window.offset;
            continue;
          }
        }
      }
    }
    sync(); // the general path: every rule, with the sequences as BigInts
    if (!(window.available >= HEADER_BYTES || (await window.want(HEADER_BYTES)))) {
      if (window.available === 0) {
        if (group.length === 0) {
          if (batch.length > 0) yield batch;
          return { last: handedOut, endedInDamage: afterDamage, goodBytes };
        }
        const start = group[0]!.offset;
        item = {
          kind: "damage",
          rule: "torn",
          message: `a group of ${group.length} record(s) without its last frame (a write not finished)`,
          offset: start,
          bytes: window.offset - start,
          crashTail: true,
        };
        group = [];
      } else {
        item = await damage(
          "torn",
          `a frame header cut short (${window.available} of ${HEADER_BYTES} bytes)`,
          undefined,
        );
      }
    } else {
      const header = decodeFrameHeader(window.view(), 0);
      if (!header) {
        item = await damage(
          "framing",
          "frame header checksum mismatch (a corrupt length, flags or sequence)",
          undefined,
        );
      } else if (
        !(window.available >= HEADER_BYTES + header.length || (await window.want(HEADER_BYTES + header.length)))
      ) {
        item = await damage(
          "torn",
          `a frame cut short (${window.available - HEADER_BYTES} of ${header.length} payload bytes)`,
          header,
        );
      } else {
        const offset = window.offset;
        const size = HEADER_BYTES + header.length;
        const payload = window.view().subarray(HEADER_BYTES, size);
        if (!payloadChecksumHolds(header, payload)) {
          item = await damage("checksum", `payload checksum mismatch (record ${header.sequence})`, header);
        } else {
          const sequence = header.sequence;
          const gapAllowed =
            contiguous && sequence !== last! + 1n && last !== undefined && options.repairedGap?.(last) === sequence;
          if (last !== undefined && sequence <= last) {
            item = {
              kind: "damage",
              rule: "sequence",
              message: `sequence ${sequence} does not follow ${last} (a repeated or misplaced record)`,
              offset,
              bytes: size,
              sequence,
              crashTail: false,
            };
            if (options.resync) window.skip(size);
          } else if (contiguous && sequence !== last! + 1n && !afterDamage && !gapAllowed) {
            const missing = sequence - 1n === last! + 1n ? `${last! + 1n}` : `${last! + 1n}..${sequence - 1n}`;
            item = {
              kind: "damage",
              rule: "sequence",
              message: `records ${missing} are missing before sequence ${sequence}`,
              offset,
              bytes: 0,
              sequence,
              crashTail: false,
            };
            if (options.resync) {
              batch.push(item); // reported once; the record itself is good
              item = undefined;
              afterDamage = true;
              continue;
            }
          } else {
            // Copy out unless views were asked for: a copy does not keep the whole chunk alive.
            const own = views ? payload : Buffer.from(payload);
            group.push(new FrameRecord(own, 0, own.length, exact(sequence), sequence, offset, size));
            window.skip(size);
            last = sequence;
            lastNumber = exact(last);
            afterDamage = false;
            if (!header.continues) {
              for (const r of group) batch.push(r);
              group = [];
              goodBytes = window.offset;
              handedOut = last;
            }
            continue;
          }
        }
      }
    }
    if (!options.resync || item.crashTail) {
      // Strict: an open group before non-tail damage is not handed out (it is incomplete).
      batch.push(item);
      yield batch;
      return { last: handedOut, endedInDamage: true, goodBytes };
    }
    // Resync: the good records of a group broken by damage are handed out, then the damage.
    for (const r of group) batch.push(r);
    if (group.length > 0) handedOut = group.at(-1)!.sequence;
    group = [];
    batch.push(item);
    afterDamage = true;
  }
}

/** The crash-tail reason for the bytes from the window's start to the end of the input, if they are one. */
async function tailReason(window: ByteWindow, totalBytes: number | undefined): Promise<string | undefined> {
  if (totalBytes === undefined) {
    if (await window.want(TAIL_PROBE_BYTES + 1)) return undefined; // the stream goes on past the probe
  } else {
    const rest = totalBytes - window.offset;
    if (rest > MAX_TAIL_BYTES) return undefined; // far more than any record: never a crash tail
    await window.want(rest);
    if (window.available !== rest) return undefined; // the file changed under us
  }
  return crashTailReason(window.view(), window.offset);
}

/**
 * Move the window to the next good frame (`found`), or to the end. A damaged
 * frame whose header held is skipped whole first (a damaged payload costs
 * exactly its record); otherwise every offset is tried.
 */
async function resync(
  window: ByteWindow,
  header: FrameHeader | undefined,
  last: bigint | undefined,
): Promise<{ bytes: number; found: boolean }> {
  let bytes = 0;
  const release = (n: number) => {
    window.skip(n);
    bytes += n;
  };
  if (header && (await window.want(HEADER_BYTES + header.length))) {
    release(HEADER_BYTES + header.length);
    if (await goodFrameAt(window, 0, last)) return { bytes, found: true };
    if (window.available === 0) return { bytes, found: false };
  }
  let at = 1;
  while (true) {
    if (!(await window.want(at + HEADER_BYTES))) {
      release(window.available);
      return { bytes, found: false };
    }
    if (await goodFrameAt(window, at, last)) {
      release(at);
      return { bytes, found: true };
    }
    at = nextCandidate(window.view(), at);
    if (at > RESYNC_RELEASE) {
      release(at);
      at = 0;
    }
  }
}

/** A header of zeros never passes its checksum: skip runs of zeros at once. */
function nextCandidate(view: Buffer, at: number): number {
  let firstNonZero = at;
  while (firstNonZero < view.length && view[firstNonZero] === 0) firstNonZero++;
  return Math.max(at + 1, firstNonZero - HEADER_BYTES + 1);
}

async function goodFrameAt(window: ByteWindow, at: number, last: bigint | undefined): Promise<boolean> {
  if (!(await window.want(at + HEADER_BYTES))) return false;
  const header = decodeFrameHeader(window.view(), at);
  if (!header || (last !== undefined && header.sequence <= last)) return false;
  if (!(await window.want(at + HEADER_BYTES + header.length))) return false;
  return payloadChecksumHolds(header, window.view().subarray(at + HEADER_BYTES, at + HEADER_BYTES + header.length));
}

/** A ByteWindow over a byte range of a file, read in chunks. */
export function fileWindow(file: string, start: number, end: number, chunkBytes = 1 << 20): ByteWindow {
  return new ByteWindow(fileChunks(file, start, end, chunkBytes), undefined, start);
}

async function* fileChunks(file: string, start: number, end: number, chunkBytes: number): AsyncGenerator<Buffer> {
  const handle = await open(file, "r");
  try {
    for (let at = start; at < end; ) {
      const want = Math.min(chunkBytes, end - at);
      const chunk = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(chunk, 0, want, at);
      if (bytesRead === 0) return; // shorter than expected: the reader sees the end
      at += bytesRead;
      yield chunk.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
