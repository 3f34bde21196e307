/**
 * Reading JSON Lines: one line at a time, with its number and byte offset.
 * A line is cut at "\n" (a "\r" before it is dropped); blank lines hold no
 * event and are passed over (or yielded, with `blankLines: true`, for a
 * reader that counts them). A line that is not UTF-8, or longer than any
 * event could be, is damage; reading goes on at the next line.
 */
import { isUtf8 } from "node:buffer";
import { MAX_PAYLOAD_BYTES } from "../store/frame.js";
import type { ByteWindow } from "../store/byte-window.js";
import type { RawItem } from "./raw-record.js";

const NEWLINE = 0x0a;
/** No contract event's JSON comes near this; a longer line is damage, and is not held in memory. */
export const MAX_LINE_BYTES = MAX_PAYLOAD_BYTES;
/** Lines handed out at once, at most (a chunk's worth would hold megabytes of heap). */
const MAX_BATCH = 256;

export async function* readLines(
  window: ByteWindow,
  options: { readonly blankLines?: boolean } = {},
): AsyncGenerator<RawItem> {
  for await (const batch of readLineBatches(window, options)) yield* batch;
}

/** readLines' items in batches: every line the window already holds, before waiting for more input (one await per chunk). */
export async function* readLineBatches(
  window: ByteWindow,
  options: { readonly blankLines?: boolean } = {},
): AsyncGenerator<RawItem[]> {
  let line = 0;
  let batch: RawItem[] = [];
  const utf8 = new Utf8Runs();
  while (true) {
    if (batch.length >= MAX_BATCH || window.available === 0) {
      if (batch.length > 0) yield batch;
      batch = [];
      if (window.available === 0 && !(await window.want(1))) return;
    }
    line++;
    const offset = window.offset;
    const found = window.bytes.indexOf(NEWLINE, window.start); // no view per line
    let end = found < 0 ? -1 : found - window.start;
    while (end < 0 && window.available <= MAX_LINE_BYTES) {
      const searched = window.available; // only bytes read from here on are unseen
      // Ask for twice as much each time: a long line is joined O(log n) times, not once per chunk.
      const more = await window.want(Math.max(searched + 1, Math.min(searched * 2, MAX_LINE_BYTES + 1)));
      end = window.view().indexOf(NEWLINE, searched); // what the stream's end brought counts too
      if (!more) break;
    }
    if (end < 0 && window.available > MAX_LINE_BYTES) {
      const bytes = await skipPastNewline(window);
      batch.push({
        kind: "damage",
        rule: "json",
        message: `line longer than ${MAX_LINE_BYTES} bytes`,
        offset,
        bytes,
        line,
      });
      continue;
    }
    const length = end < 0 ? window.available : end;
    const chunk = window.bytes as Buffer & { utf8Slice(start: number, end: number): string };
    let from = window.start;
    let to = from + length;
    const base = offset - from; // the stream offset of chunk[0]
    window.skip(end < 0 ? length : length + 1);
    if (to > from && chunk[to - 1] === 0x0d) to--;
    // Some editors start a file with a byte order mark.
    if (offset === 0 && to - from >= 3 && chunk[from] === 0xef && chunk[from + 1] === 0xbb && chunk[from + 2] === 0xbf)
      from += 3;
    if (!utf8.isUtf8(chunk, from, to, base)) {
      batch.push({ kind: "damage", rule: "json", message: "not UTF-8 text", offset, bytes: length, line });
      continue;
    }
    const text = chunk.utf8Slice(from, to); // the bounds are checked above
    // A line that starts with "{" is not blank (the common case: no trim of every line).
    if (chunk[from] !== 0x7b && text.trim() === "" && !options.blankLines) continue;
    batch.push({ kind: "line", text, offset, line, bytes: length });
  }
}

/**
 * UTF-8 checks of lines, made once for every whole line a buffer holds from
 * the first asked for, rather than one native call (and one view) per line:
 * "\n" is a character of its own in UTF-8 (no byte of a longer one is 0x0a),
 * so a run of lines is UTF-8 exactly when each of its lines is. In a run
 * that is not, each line is checked on its own, to name the ones that are
 * damaged. The run is kept as stream offsets (the stream's bytes never
 * change), not as its buffer: that would hold on to a buffer the window has
 * let go of.
 */
class Utf8Runs {
  private end = -1; // the stream offset where the last run checked ends
  private valid = false;

  /** Whether bytes[from..to) is UTF-8, where `base` is the stream offset of bytes[0]; lines are asked for in order. */
  isUtf8(bytes: Buffer, from: number, to: number, base: number): boolean {
    if (base + to > this.end) {
      const end = Math.max(bytes.lastIndexOf(NEWLINE), to);
      this.end = base + end;
      this.valid = isUtf8(bytes.subarray(from, end));
    }
    return this.valid || isUtf8(bytes.subarray(from, to));
  }
}

async function skipPastNewline(window: ByteWindow): Promise<number> {
  let skipped = 0;
  while (await window.want(1)) {
    const end = window.view().indexOf(NEWLINE);
    if (end >= 0) {
      window.skip(end + 1);
      return skipped + end + 1;
    }
    skipped += window.available;
    window.skip(window.available);
  }
  return skipped;
}
