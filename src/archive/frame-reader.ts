/**
 * Reading framed records (the collector's segment format, store/frame.ts)
 * from a byte stream, reporting damage instead of stopping at it.
 *
 * After a damaged frame the reader looks for the next good one: first where
 * the damaged frame's own length field says it ends (a flipped payload byte
 * costs exactly one record), else byte by byte, for a frame whose checksum
 * holds (a flipped length field costs the records up to the next good frame).
 */
import { HEADER_BYTES, MAX_PAYLOAD_BYTES, frameChecksum, frameChecksumHolds } from "../store/frame.js";
import type { ByteWindow } from "./byte-window.js";
import type { RawItem } from "./raw-record.js";

/**
 * While resynchronising, a candidate frame longer than twice the longest
 * good one seen (within these bounds) is not believed: it bounds what one
 * guess can make the reader buffer and checksum, so a damaged stretch costs
 * about linear time. Records the collector writes are far below the top
 * bound (its message limit is 4 MiB).
 */
const RESYNC_PAYLOAD_FLOOR = 64 * 1024;
const RESYNC_PAYLOAD_CEILING = 4 * 1024 * 1024;
/** Bytes ruled out while resynchronising are let go in steps of this size. */
const RESYNC_RELEASE = 64 * 1024;

export interface FrameReadOptions {
  /**
   * Sequences must count up by exactly one from here (a data directory's
   * segment, named by its first sequence). Otherwise they need only increase.
   */
  readonly firstSequence?: bigint;
}

export interface FrameReadEnd {
  /** The last good sequence read (or the one before the first expected). */
  readonly last: bigint | undefined;
  /** The stream ended in damage (so a gap to the next segment is already reported). */
  readonly endedInDamage: boolean;
}

type Damage = Extract<RawItem, { kind: "damage" }>;

export async function* readFrames(window: ByteWindow, options: FrameReadOptions = {}): AsyncGenerator<RawItem, FrameReadEnd> {
  const contiguous = options.firstSequence !== undefined;
  let last = contiguous ? options.firstSequence! - 1n : undefined;
  let longest = 0;
  let afterDamage = false;
  while (true) {
    if (!(await window.want(HEADER_BYTES))) {
      if (window.available === 0) return { last, endedInDamage: afterDamage };
      const bytes = window.available;
      const item: Damage = { kind: "damage", rule: "torn", message: `torn header (${bytes} of ${HEADER_BYTES} bytes)`, offset: window.offset, bytes, crashTail: true };
      window.skip(bytes);
      yield item;
      return { last, endedInDamage: true };
    }
    const length = window.view().readUInt32LE(0);
    const offset = window.offset;
    const fits = length <= MAX_PAYLOAD_BYTES && (await window.want(HEADER_BYTES + length));
    if (!fits || !frameChecksumHolds(window.view(), 0, length)) {
      yield await damagedFrame(window, length, fits, { last: contiguous ? last : undefined, after: last, longest });
      afterDamage = true;
      continue;
    }
    const view = window.view();
    const sequence = view.readBigUInt64LE(8);
    const payload = view.subarray(HEADER_BYTES, HEADER_BYTES + length);
    window.skip(HEADER_BYTES + length);
    if (last !== undefined && sequence <= last) {
      yield { kind: "damage", rule: "sequence", message: `sequence ${sequence} does not follow ${last} (a repeated or misplaced record)`, offset, bytes: HEADER_BYTES + length, sequence };
      continue;
    }
    // Records missing right after damage are that damage's: reported once.
    if (contiguous && sequence !== last! + 1n && !afterDamage) {
      const missing = sequence - 1n === last! + 1n ? `${last! + 1n}` : `${last! + 1n}..${sequence - 1n}`;
      yield { kind: "damage", rule: "sequence", message: `records ${missing} are missing before sequence ${sequence}`, offset, bytes: 0, sequence };
    }
    last = sequence;
    longest = Math.max(longest, length);
    afterDamage = false;
    yield { kind: "record", payload, offset, sequence };
  }
}

interface ResyncHints {
  /** In a contiguous log: the last good sequence, which bounds the next one's. */
  readonly last: bigint | undefined;
  /** The last good sequence: the next good frame's must be above it. */
  readonly after: bigint | undefined;
  /** The longest good payload seen, which bounds what a candidate may claim. */
  readonly longest: number;
}

/** Report the damaged frame at the window's start, and move past it to the next good frame (or the end). */
async function damagedFrame(window: ByteWindow, length: number, fits: boolean, hints: ResyncHints): Promise<Damage> {
  const offset = window.offset;
  const reason = !fits
    ? length > MAX_PAYLOAD_BYTES
      ? `length field ${length} exceeds ${MAX_PAYLOAD_BYTES}`
      : `record of ${length} bytes runs past the end of the input (${window.available - HEADER_BYTES} there)`
    : `checksum mismatch (stored ${window.view().readUInt32LE(4)}, computed ${frameChecksum(window.view(), 0, length)})`;
  const hint = fits ? HEADER_BYTES + length : undefined;
  const { skipped, found, zeros } = await resync(window, hint, hints);
  const exactLastFrame = !found && hint !== undefined && skipped === hint;
  // A frame cut short with no good frame after it is what a crash mid-write leaves.
  const rule = !found && !fits && length <= MAX_PAYLOAD_BYTES ? "torn" : fits ? "checksum" : "framing";
  const lost = exactLastFrame || (found && skipped === hint) ? "" : found ? `; ${skipped} bytes skipped to the next good frame` : `; ${skipped} bytes to the end skipped`;
  // What the log's own recovery would cut (store/segment-log.ts): torn, a last frame ending at the end, or zeros.
  const crashTail = !found && (rule === "torn" || exactLastFrame || zeros);
  return { kind: "damage", rule, message: reason + lost, offset, bytes: skipped, crashTail };
}

/**
 * Move the window to the next good frame (`found`), or to the end; returns
 * the bytes skipped, and whether they were all zeros. `hint`: where the
 * damaged frame's length field says the next one starts.
 */
async function resync(window: ByteWindow, hint: number | undefined, hints: ResyncHints): Promise<{ skipped: number; found: boolean; zeros: boolean }> {
  let skipped = 0;
  let zeros = true;
  const release = (n: number) => {
    zeros &&= isZero(window.view().subarray(0, n));
    window.skip(n);
    skipped += n;
  };
  // The hint is where a frame would start if only the payload was hit: believed up to the ceiling.
  if (hint !== undefined && ((await goodFrameAt(window, hint, hints, hint, RESYNC_PAYLOAD_CEILING)) || !(await window.want(hint + 1)))) {
    release(hint);
    return { skipped, found: window.available > 0, zeros };
  }
  const cap = Math.min(RESYNC_PAYLOAD_CEILING, Math.max(RESYNC_PAYLOAD_FLOOR, 2 * hints.longest));
  let at = 1;
  while (true) {
    if (window.available < at + HEADER_BYTES && !(await window.want(at + HEADER_BYTES))) {
      release(window.available); // no good frame before the end: everything left is the damage
      return { skipped, found: false, zeros };
    }
    // Synchronous where it can be: nearly every offset is ruled out by its header alone.
    if (plausibleHeader(window.view(), at, hints, skipped + at, cap) && (await goodFrameAt(window, at, hints, skipped + at, cap))) {
      release(at);
      return { skipped, found: true, zeros };
    }
    at = nextCandidate(window.view(), at);
    if (at > RESYNC_RELEASE) {
      release(at);
      at = 0;
    }
  }
}

/** The next offset worth trying after `at`: a header of sixteen zero bytes never passes its checksum. */
function nextCandidate(view: Buffer, at: number): number {
  let firstNonZero = at;
  while (firstNonZero < view.length && view[firstNonZero] === 0) firstNonZero++;
  return Math.max(at + 1, firstNonZero - HEADER_BYTES + 1);
}

/** Cheap tests on a candidate header alone (most offsets fail here, without waiting for bytes). */
function plausibleHeader(view: Buffer, at: number, hints: ResyncHints, distance: number, maxPayload: number): boolean {
  if (view.readUInt32LE(at) > maxPayload) return false;
  const sequence = view.readBigUInt64LE(at + 8);
  if (hints.after !== undefined && sequence <= hints.after) return false;
  // In a contiguous log, the records lost in `distance` bytes number at most one per header's worth.
  return hints.last === undefined || sequence <= hints.last + 1n + BigInt(Math.ceil(distance / HEADER_BYTES));
}

async function goodFrameAt(window: ByteWindow, at: number, hints: ResyncHints, distance: number, maxPayload: number): Promise<boolean> {
  if (window.available < at + HEADER_BYTES && !(await window.want(at + HEADER_BYTES))) return false;
  if (!plausibleHeader(window.view(), at, hints, distance, maxPayload)) return false;
  const length = window.view().readUInt32LE(at);
  if (!(await window.want(at + HEADER_BYTES + length))) return false;
  return frameChecksumHolds(window.view(), at, length);
}

function isZero(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}
