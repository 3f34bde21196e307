/**
 * Reading logs written by session-events 0.1.0 (format 1: no segment header;
 * a 16-byte frame header whose CRC-32 covered the sequence and the payload
 * but not the length). Only `log upgrade` reads them, strictly: it copies
 * every record into a format-2 log and stops at the first damage.
 */
import { crc32 } from "node:zlib";
import { open } from "node:fs/promises";
import { LogCorruptionError } from "./errors.js";

const HEADER = 16;
const MAX_PAYLOAD = 64 * 1024 * 1024;

/** The file starts with a whole format-1 frame whose checksum holds (an empty file is no evidence). */
export async function looksLikeFormat1(file: string): Promise<boolean> {
  const handle = await open(file, "r");
  try {
    const head = Buffer.alloc(HEADER);
    if ((await handle.read(head, 0, HEADER, 0)).bytesRead < HEADER) return false;
    const length = head.readUInt32LE(0);
    if (length > MAX_PAYLOAD) return false;
    const frame = Buffer.alloc(HEADER + length);
    if ((await handle.read(frame, 0, frame.length, 0)).bytesRead < frame.length) return false;
    return frame.readUInt32LE(4) === crc32(frame.subarray(8));
  } finally {
    await handle.close();
  }
}

/** Every record of one format-1 segment; throws at damage, naming the offset (a torn last frame ends the file quietly only if `tailMayBeTorn`). */
export async function* readFormat1Segment(
  file: string,
  tailMayBeTorn: boolean,
): AsyncGenerator<{ sequence: bigint; payload: Buffer }> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    const bytes = Buffer.alloc(size);
    await handle.read(bytes, 0, size, 0);
    let offset = 0;
    while (offset < size) {
      const left = size - offset;
      const length = left >= HEADER ? bytes.readUInt32LE(offset) : 0;
      if (left < HEADER || (length <= MAX_PAYLOAD && left < HEADER + length)) {
        if (tailMayBeTorn) return;
        throw new LogCorruptionError(file, offset, "torn", "a frame cut short by the end of the file");
      }
      if (
        length > MAX_PAYLOAD ||
        bytes.readUInt32LE(offset + 4) !== crc32(bytes.subarray(offset + 8, offset + HEADER + length))
      ) {
        throw new LogCorruptionError(
          file,
          offset,
          "checksum",
          "a damaged format-1 frame (checksum or length); export what precedes it with an archive tool of 0.1.0",
        );
      }
      yield {
        sequence: bytes.readBigUInt64LE(offset + 8),
        payload: Buffer.from(bytes.subarray(offset + HEADER, offset + HEADER + length)),
      };
      offset += HEADER + length;
    }
  } finally {
    await handle.close();
  }
}
