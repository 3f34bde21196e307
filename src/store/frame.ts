/**
 * How a record is laid out on disk:
 *
 *   u32 LE  payload length
 *   u32 LE  CRC-32 of (sequence bytes + payload)
 *   u64 LE  sequence
 *   ...     payload (a protobuf message)
 *
 * The checksum covers the sequence too, so a record can never be read at the
 * wrong position. A frame cut short or failing its checksum is "damaged":
 * readers report it, never mis-read it.
 */
import { crc32 } from "node:zlib";

export const HEADER_BYTES = 16;
/** Largest payload a frame may carry; a larger length field means damage. */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

export function encodeFrame(sequence: bigint, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeBigUInt64LE(sequence, 8);
  frame.set(payload, HEADER_BYTES);
  frame.writeUInt32LE(crc32(frame.subarray(8)), 4);
  return frame;
}

export type FrameResult =
  | { readonly kind: "record"; readonly sequence: bigint; readonly payload: Buffer; readonly size: number }
  | { readonly kind: "end" }
  /** `torn`: cut short, so more bytes could still complete it. */
  | { readonly kind: "damaged"; readonly reason: string; readonly torn: boolean };

/** Read the frame at `offset` of `buf` (which holds the rest of the file). */
export function decodeFrame(buf: Buffer, offset: number): FrameResult {
  const left = buf.length - offset;
  if (left === 0) return { kind: "end" };
  if (left < HEADER_BYTES) return { kind: "damaged", reason: `torn header (${left} of ${HEADER_BYTES} bytes)`, torn: true };
  const length = buf.readUInt32LE(offset);
  if (length > MAX_PAYLOAD_BYTES) return { kind: "damaged", reason: `length field ${length} exceeds ${MAX_PAYLOAD_BYTES}`, torn: false };
  if (left < HEADER_BYTES + length) {
    return { kind: "damaged", reason: `torn record (${left - HEADER_BYTES} of ${length} payload bytes)`, torn: true };
  }
  if (!frameChecksumHolds(buf, offset, length)) {
    const stored = buf.readUInt32LE(offset + 4);
    return { kind: "damaged", reason: `checksum mismatch (stored ${stored}, computed ${frameChecksum(buf, offset, length)})`, torn: false };
  }
  return {
    kind: "record",
    sequence: buf.readBigUInt64LE(offset + 8),
    payload: buf.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length),
    size: HEADER_BYTES + length,
  };
}

/** The CRC-32 a frame at `offset` of `buf` with this payload length should store. */
export function frameChecksum(buf: Buffer, offset: number, length: number): number {
  return crc32(buf.subarray(offset + 8, offset + HEADER_BYTES + length));
}

/** The frame at `offset` (whole in `buf`) stores the checksum its bytes have. */
export function frameChecksumHolds(buf: Buffer, offset: number, length: number): boolean {
  return buf.readUInt32LE(offset + 4) === frameChecksum(buf, offset, length);
}
