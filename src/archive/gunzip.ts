/**
 * gzip, member by member, losing nothing before damage.
 *
 * zlib's own gunzip drops the output of a write that ends in an error (a
 * member followed by bytes that are not gzip loses its last events), and
 * silently stops at a zero byte after a member (hiding any member after
 * it). So the gzip framing (RFC 1952) is read here, and only each member's
 * deflate data goes to zlib (inflateRaw), in small slices: zlib ends on
 * its own at the end of the deflate data and says how much it used, so the
 * trailer and whatever follows are read here too. Zero padding between and
 * after members is allowed, as gzip(1) does.
 */
import { createInflateRaw, crc32 } from "node:zlib";
import type { ByteWindow } from "../store/byte-window.js";

/** Compressed bytes given to zlib at a time: the most a corrupt deflate stream can cost before its error. */
const SLICE = 4096;
const MAGIC = [0x1f, 0x8b];
const DEFLATE = 8;
const FLAG = { HCRC: 0x02, EXTRA: 0x04, NAME: 0x08, COMMENT: 0x10 } as const;
const RESERVED_FLAGS = 0xe0;

/** Whether bytes start like a gzip member: magic, deflate, no reserved flag bits (RFC 1952, 2.3.1). */
export function looksLikeGzip(head: Buffer): boolean {
  return (
    head.length >= 4 &&
    head[0] === MAGIC[0] &&
    head[1] === MAGIC[1] &&
    head[2] === DEFLATE &&
    (head[3]! & RESERVED_FLAGS) === 0
  );
}

export interface GzipDamage {
  /** Byte offset in the compressed input. */
  readonly compressedOffset: number;
  readonly message: string;
  /** Cut short by the end of the input. */
  readonly torn: boolean;
}

/** The decompressed bytes of every member in `compressed`; damage is collected in `damage`, in order. */
export async function* gunzipMembers(compressed: ByteWindow, damage: GzipDamage[]): AsyncGenerator<Buffer> {
  for (let member = 1; ; member++) {
    await skipZeros(compressed);
    if (!(await compressed.want(1))) return;
    const start = compressed.offset;
    const header = await readHeader(compressed);
    if (header !== "ok") {
      const rest = await compressed.drain();
      const what = member === 1 ? "not gzip" : `not a gzip member (${rest} bytes after member ${member - 1})`;
      damage.push({ compressedOffset: start, message: `${what}: ${header}`, torn: header === "cut short" });
      return;
    }
    let crc = 0;
    let size = 0;
    const inflated = inflateMember(compressed);
    try {
      for (let step = await inflated.next(); ; step = await inflated.next()) {
        if (step.done) {
          if (step.value) {
            damage.push({
              compressedOffset: compressed.offset,
              message: `member ${member}: ${step.value.message}`,
              torn: step.value.torn,
            });
            return;
          }
          break;
        }
        crc = crc32(step.value, crc);
        size += step.value.length;
        yield step.value;
      }
    } finally {
      await inflated.return(undefined); // the consumer may stop early: the inflater is let go
    }
    const trailerAt = compressed.offset;
    if (!(await compressed.want(8))) {
      damage.push({ compressedOffset: trailerAt, message: `member ${member}: its trailer is cut short`, torn: true });
      return;
    }
    const view = compressed.view();
    const [storedCrc, storedSize] = [view.readUInt32LE(0), view.readUInt32LE(4)];
    compressed.skip(8);
    if (storedCrc !== crc || storedSize !== size % 2 ** 32) {
      // The data was inflated without error and each event is still checked by
      // its contract; but the member is not what was written.
      damage.push({
        compressedOffset: trailerAt,
        message: `member ${member}: trailer mismatch (CRC-32 ${storedCrc} stored, ${crc} computed; size ${storedSize} stored, ${size % 2 ** 32} inflated)`,
        torn: false,
      });
    }
  }
}

async function skipZeros(window: ByteWindow): Promise<void> {
  while (await window.want(1)) {
    const view = window.view();
    let n = 0;
    while (n < view.length && view[n] === 0) n++;
    window.skip(n);
    if (n < view.length) return;
  }
}

/** Read past a member header (RFC 1952, 2.3.1): "ok", or why it is not one. */
async function readHeader(window: ByteWindow): Promise<string> {
  if (!(await window.want(10))) return "cut short";
  const view = window.view();
  if (view[0] !== MAGIC[0] || view[1] !== MAGIC[1]) return "no gzip magic bytes";
  if (view[2] !== DEFLATE) return `compression method ${view[2]} (only deflate, 8, exists)`;
  const flags = view[3]!;
  if (flags & RESERVED_FLAGS) return `reserved flag bits set (${flags})`;
  window.skip(10);
  if (flags & FLAG.EXTRA) {
    if (!(await window.want(2))) return "cut short";
    const length = window.view().readUInt16LE(0);
    if (!(await window.want(2 + length))) return "cut short";
    window.skip(2 + length);
  }
  for (const flag of [FLAG.NAME, FLAG.COMMENT]) {
    if (!(flags & flag)) continue;
    while (true) {
      if (!(await window.want(1))) return "cut short";
      const end = window.view().indexOf(0);
      if (end >= 0) {
        window.skip(end + 1);
        break;
      }
      window.skip(window.available);
    }
  }
  if (flags & FLAG.HCRC) {
    if (!(await window.want(2))) return "cut short";
    window.skip(2);
  }
  return "ok";
}

/**
 * One member's deflate data, inflated: yields the output, and returns the
 * error that ended it early, if any. Leaves the window just after the
 * deflate data (zlib tells how many bytes it used).
 */
async function* inflateMember(
  window: ByteWindow,
): AsyncGenerator<Buffer, { message: string; torn: boolean } | undefined> {
  const inflater = createInflateRaw();
  const output: Buffer[] = [];
  let ended = false;
  let error: Error | undefined;
  inflater.on("data", (chunk: Buffer) => output.push(chunk));
  inflater.on("end", () => (ended = true));
  inflater.on("error", (e: Error) => (error = e));
  let fed = 0;
  try {
    while (true) {
      if (!(await window.want(1))) return { message: "cut short (unexpected end of file)", torn: true };
      const slice = window.view().subarray(0, SLICE);
      // zlib never calls back a write that fails: its 'error' ends the wait too.
      await new Promise<void>((resolve) => {
        const done = () => {
          inflater.off("error", done);
          resolve();
        };
        inflater.once("error", done);
        inflater.write(slice, done);
      });
      await new Promise((resolve) => setImmediate(resolve)); // let 'data', 'end' and 'error' arrive
      yield* output.splice(0);
      if (error) return { message: `${error.message}; nothing after this point could be read`, torn: false };
      if (ended) {
        window.skip(inflater.bytesWritten - fed); // the deflate data ended inside this slice
        return undefined;
      }
      window.skip(slice.length);
      fed += slice.length;
    }
  } finally {
    inflater.destroy();
  }
}
