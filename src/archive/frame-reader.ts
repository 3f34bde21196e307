/**
 * Reading framed records (the collector's segment format, store/frame.ts)
 * from a byte stream, reporting damage instead of stopping at it.
 *
 * After a damaged frame the reader looks for the next good one: first where
 * the damaged frame's own length field says it ends (a flipped payload byte
 * costs exactly one record), else byte by byte, for a frame whose checksum
 * holds (a flipped length field costs the records up to the next good frame).
 */
import { crc32 } from "node:zlib";
import { HEADER_BYTES, MAX_PAYLOAD_BYTES } from "../store/frame.js";
import type { ByteWindow } from "./byte-window.js";
import type { RawItem } from "./raw-record.js";

/**
 * While resynchronising, a candidate frame longer than this is not believed:
 * it bounds what one guess can make the reader buffer and checksum. Records
 * the collector writes are far smaller (its message limit is 4 MiB).
 */
const RESYNC_MAX_PAYLOAD = 4 * 1024 * 1024;
/** Bytes ruled out while resynchronising are let go in steps of this size. */
const RESYNC_RELEASE = 64 * 1024;

export interface FrameReadOptions {
  /**
   * Sequences must count up by exactly one from here (a data directory's
   * segment, named by its first sequence). Otherwise they need only increase.
   */
  readonly firstSequence?: bigint;
  /** The last sequence before this stream (the previous segment's). */
  readonly after?: bigint;
}

export async function* readFrames(window: ByteWindow, options: FrameReadOptions = {}): AsyncGenerator<RawItem, bigint | undefined> {
  const contiguous = options.firstSequence !== undefined;
  let last = contiguous ? options.firstSequence! - 1n : options.after;
  while (true) {
    if (!(await window.want(HEADER_BYTES))) {
      if (window.available === 0) return last;
      yield torn(window, `torn header (${window.available} of ${HEADER_BYTES} bytes)`);
      return last;
    }
    const length = window.view().readUInt32LE(0);
    const offset = window.offset;
    const fits = length <= MAX_PAYLOAD_BYTES && (await window.want(HEADER_BYTES + length));
    if (!fits || !frameIsGood(window.view(), 0, length)) {
      const reason = !fits
        ? length > MAX_PAYLOAD_BYTES
          ? `length field ${length} exceeds ${MAX_PAYLOAD_BYTES}`
          : `record of ${length} bytes runs past the end of the input (${window.available - HEADER_BYTES} there)`
        : `checksum mismatch (stored ${window.view().readUInt32LE(4)}, computed ${crc32(window.view().subarray(8, HEADER_BYTES + length))})`;
      const { skipped, found } = await resync(window, fits ? HEADER_BYTES + length : undefined, last);
      // A frame cut short with no good frame after it is what a crash mid-write leaves.
      const rule = !found && !fits && length <= MAX_PAYLOAD_BYTES ? "torn" : fits ? "checksum" : "framing";
      const lost = fits && skipped === HEADER_BYTES + length ? "" : found ? `; ${skipped} bytes skipped to the next good frame` : `; ${skipped} bytes to the end skipped`;
      yield { kind: "damage", rule, message: reason + lost, offset, bytes: skipped };
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
    if (contiguous && sequence !== last! + 1n) {
      const missing = sequence - 1n === last! + 1n ? `${last! + 1n}` : `${last! + 1n}..${sequence - 1n}`;
      yield { kind: "damage", rule: "sequence", message: `records ${missing} are missing before sequence ${sequence}`, offset, bytes: 0, sequence };
    }
    last = sequence;
    yield { kind: "record", payload, offset, sequence };
  }
}

function frameIsGood(view: Buffer, at: number, length: number): boolean {
  return view.readUInt32LE(at + 4) === crc32(view.subarray(at + 8, at + HEADER_BYTES + length));
}

function torn(window: ByteWindow, message: string): RawItem {
  const item: RawItem = { kind: "damage", rule: "torn", message, offset: window.offset, bytes: window.available };
  window.skip(window.available);
  return item;
}

/**
 * Move the window to the next good frame (`found`), or to the end; returns
 * the bytes skipped. `hint`: where the damaged frame's length field says the
 * next one starts.
 */
async function resync(window: ByteWindow, hint: number | undefined, last: bigint | undefined): Promise<{ skipped: number; found: boolean }> {
  if (hint !== undefined && ((await goodFrameAt(window, hint, last)) || !(await window.want(hint + 1)))) {
    window.skip(hint);
    return { skipped: hint, found: window.available > 0 };
  }
  let skipped = 0;
  let at = 1;
  while (true) {
    if (!(await window.want(at + HEADER_BYTES))) {
      // No good frame before the end: everything left is the damage.
      const rest = window.available;
      window.skip(rest);
      return { skipped: skipped + rest, found: false };
    }
    if (await goodFrameAt(window, at, last)) {
      window.skip(at);
      return { skipped: skipped + at, found: true };
    }
    at++;
    if (at > RESYNC_RELEASE) {
      window.skip(at);
      skipped += at;
      at = 0;
    }
  }
}

async function goodFrameAt(window: ByteWindow, at: number, last: bigint | undefined): Promise<boolean> {
  if (!(await window.want(at + HEADER_BYTES))) return false;
  const length = window.view().readUInt32LE(at);
  if (length > RESYNC_MAX_PAYLOAD) return false;
  if (last !== undefined && window.view().readBigUInt64LE(at + 8) <= last) return false;
  if (!(await window.want(at + HEADER_BYTES + length))) return false;
  return frameIsGood(window.view(), at, length);
}
