/**
 * Bench data: log frames laid out in place in big chunks and written as
 * segment files like the collector's (each with its segment header), so a
 * gigabyte of log takes seconds. The first frame written is checked against
 * encodeFrame, so the layout cannot drift from the log's own.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import path from "node:path";
import { crc32 } from "node:zlib";
import { encodeFrame, encodeSegmentHeader, HEADER_BYTES } from "../../src/store/frame.js";

const CHUNK_BYTES = 8 * 2 ** 20;

export class BenchSegmentWriter {
  private readonly chunk: Buffer;
  private fd = -1;
  private used = 0;
  private checked = false;
  /** Bytes of the current segment file, written or waiting in the chunk. */
  private segmentBytes = 0;
  /** Bytes of every segment file so far, headers included. */
  total = 0;
  segments = 0;

  constructor(
    private readonly dir: string,
    largestPayload = 64 * 1024,
  ) {
    this.chunk = Buffer.allocUnsafe(CHUNK_BYTES + HEADER_BYTES + largestPayload);
  }

  /** The current segment's size with what is waiting in the chunk. */
  get segmentSize(): number {
    return this.segmentBytes;
  }

  /** Close the current segment (if any) and start the one whose first record is `first`. */
  startSegment(first: number): void {
    this.closeSegment();
    this.fd = openSync(path.join(this.dir, `${String(first).padStart(20, "0")}.seg`), "w");
    const header = encodeSegmentHeader(BigInt(first));
    writeSync(this.fd, header);
    this.segmentBytes = header.length;
    this.total += header.length;
    this.segments++;
  }

  /** One record (a group of one) at `sequence`; `checksum`: crc32(payload), when the caller has it already. */
  add(sequence: number, payload: Uint8Array, checksum = crc32(payload)): void {
    const buf = this.chunk;
    const at = this.used;
    buf.writeUInt32LE(payload.length, at);
    buf.writeUInt32LE(0, at + 4); // flags: not continued
    buf.writeBigUInt64LE(BigInt(sequence), at + 8);
    buf.writeUInt32LE(checksum, at + 16);
    buf.writeUInt32LE(crc32(buf.subarray(at, at + 20)), at + 20);
    buf.set(payload, at + HEADER_BYTES);
    if (!this.checked) {
      if (!buf.subarray(at, at + HEADER_BYTES + payload.length).equals(encodeFrame(BigInt(sequence), payload)))
        throw new Error("frame layout differs from encodeFrame");
      this.checked = true;
    }
    const bytes = HEADER_BYTES + payload.length;
    this.used += bytes;
    this.segmentBytes += bytes;
    this.total += bytes;
    if (this.used >= CHUNK_BYTES) this.flush();
  }

  /** Write what is waiting and close the last segment. */
  close(): void {
    this.closeSegment();
  }

  private flush(): void {
    writeSync(this.fd, this.chunk, 0, this.used);
    this.used = 0;
  }

  private closeSegment(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}
