/**
 * The on-disk layout of the log (format 2). Every byte is covered by a
 * checksum, the lengths included: a corrupt length can never pass for a
 * torn write, so recovery never mistakes damage for a crash tail.
 *
 * A segment file starts with a header:
 *
 *   0   8  magic "SEVTSEG\n"
 *   8   4  u32 LE format version (2)
 *  12   4  u32 LE flags (0; readers refuse flags they do not know)
 *  16   8  u64 LE sequence of the segment's first record (also its file name)
 *  24   4  u32 LE reserved (0)
 *  28   4  u32 LE CRC-32 of bytes 0..28
 *
 * then frames:
 *
 *   0   4  u32 LE payload length
 *   4   4  u32 LE flags (bit 0: GROUP_CONTINUES, the next frame belongs to the same atomic group)
 *   8   8  u64 LE sequence
 *  16   4  u32 LE CRC-32 of the payload
 *  20   4  u32 LE CRC-32 of bytes 0..20 (the header, with the payload's checksum)
 *  24   …  payload (a protobuf LogEntry)
 *
 * An atomic group (an event and the outcomes it caused) is a run of frames
 * whose flags say "continues", closed by one that does not. Readers hand a
 * group out only when its last frame is read.
 */
import { crc32 } from "node:zlib";

export const SEGMENT_MAGIC = Buffer.from("SEVTSEG\n", "latin1");
export const FORMAT_VERSION = 2;
export const SEGMENT_HEADER_BYTES = 32;
export const HEADER_BYTES = 24;
/** Largest payload a frame may carry (records the collector writes are far below). */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
export const GROUP_CONTINUES = 1;
const KNOWN_FRAME_FLAGS = GROUP_CONTINUES;
/** Torn writes are recognised by whole sectors of zeros (as etcd's WAL does). */
export const SECTOR_BYTES = 512;

export function encodeSegmentHeader(first: bigint): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(header, 0);
  header.writeUInt32LE(FORMAT_VERSION, 8);
  header.writeBigUInt64LE(first, 16);
  header.writeUInt32LE(crc32(header.subarray(0, 28)), 28);
  return header;
}

export type SegmentHeaderResult =
  | { readonly kind: "header"; readonly first: bigint }
  /** No header at all: a 0.1.0 segment (format 1), or not a segment. */
  | { readonly kind: "foreign"; readonly reason: string }
  | { readonly kind: "damaged"; readonly reason: string };

export function decodeSegmentHeader(buf: Buffer): SegmentHeaderResult {
  if (buf.length < SEGMENT_HEADER_BYTES) {
    return { kind: "damaged", reason: `segment header cut short (${buf.length} of ${SEGMENT_HEADER_BYTES} bytes)` };
  }
  if (!buf.subarray(0, 8).equals(SEGMENT_MAGIC))
    return { kind: "foreign", reason: "no segment header (magic number missing)" };
  if (buf.readUInt32LE(28) !== crc32(buf.subarray(0, 28)))
    return { kind: "damaged", reason: "segment header checksum mismatch" };
  const version = buf.readUInt32LE(8);
  if (version !== FORMAT_VERSION)
    return { kind: "foreign", reason: `log format version ${version}; this version reads ${FORMAT_VERSION}` };
  if (buf.readUInt32LE(12) !== 0) return { kind: "foreign", reason: `unknown segment flags ${buf.readUInt32LE(12)}` };
  return { kind: "header", first: buf.readBigUInt64LE(16) };
}

/** Encode one frame; `continues`: the next frame belongs to the same atomic group. */
export function encodeFrame(sequence: bigint, payload: Uint8Array, continues = false): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(continues ? GROUP_CONTINUES : 0, 4);
  frame.writeBigUInt64LE(sequence, 8);
  frame.set(payload, HEADER_BYTES);
  frame.writeUInt32LE(crc32(payload), 16);
  frame.writeUInt32LE(crc32(frame.subarray(0, 20)), 20);
  return frame;
}

export interface FrameHeader {
  readonly length: number;
  readonly continues: boolean;
  readonly sequence: bigint;
  readonly payloadChecksum: number;
}

/** The header at `offset` of `buf` (24 bytes there), if its checksum holds and its fields are sane. */
export function decodeFrameHeader(buf: Buffer, offset: number): FrameHeader | undefined {
  if (buf.readUInt32LE(offset + 20) !== crc32(buf.subarray(offset, offset + 20))) return undefined;
  const length = buf.readUInt32LE(offset);
  const flags = buf.readUInt32LE(offset + 4);
  if (length > MAX_PAYLOAD_BYTES || (flags & ~KNOWN_FRAME_FLAGS) !== 0) return undefined;
  return {
    length,
    continues: (flags & GROUP_CONTINUES) !== 0,
    sequence: buf.readBigUInt64LE(offset + 8),
    payloadChecksum: buf.readUInt32LE(offset + 16),
  };
}

export function payloadChecksumHolds(header: FrameHeader, payload: Uint8Array): boolean {
  return crc32(payload) === header.payloadChecksum;
}

/**
 * Why the bytes from a damaged point to the end of the file are what a crash
 * mid-write leaves (and so were never acknowledged), or undefined when they
 * are not. `rest` holds every byte from the damaged point to the end of the
 * file, `fileOffset` is where it starts. The only such shapes:
 *
 * - zero fill: nothing but zeros (space the file system allocated);
 * - a header cut short by the end of the file;
 * - a frame whose intact header says it runs past the end of the file;
 * - a torn write: the last frame, fully inside the file, with a whole sector
 *   of zeros in it, and nothing but zeros after it (a write whose later pages
 *   never reached the disk).
 *
 * Anything else (a complete final record with a bad checksum, a header that
 * does not hold followed by data) is damage: it could hide acknowledged records.
 */
export function crashTailReason(rest: Buffer, fileOffset: number): string | undefined {
  if (isZero(rest)) return `zero fill (${rest.length} bytes)`;
  if (rest.length < HEADER_BYTES)
    return `a frame header cut short by the end of the file (${rest.length} of ${HEADER_BYTES} bytes)`;
  const header = decodeFrameHeader(rest, 0);
  if (!header) {
    // A header torn across a sector boundary: the sector after it never reached the disk.
    const boundary = nextSectorBoundary(fileOffset) - fileOffset;
    return boundary < HEADER_BYTES && isZero(rest.subarray(boundary))
      ? "a frame header torn at a sector boundary (zeros after it)"
      : undefined;
  }
  const frameBytes = HEADER_BYTES + header.length;
  if (frameBytes > rest.length)
    return `a frame cut short by the end of the file (${rest.length - HEADER_BYTES} of ${header.length} payload bytes)`;
  if (!isZero(rest.subarray(frameBytes))) return undefined;
  const payload = rest.subarray(HEADER_BYTES, frameBytes);
  if (payloadChecksumHolds(header, payload)) return undefined; // not damaged at all
  return hasZeroSector(payload, fileOffset + HEADER_BYTES)
    ? "a torn write (a sector of zeros in the last frame)"
    : undefined;
}

function nextSectorBoundary(offset: number): number {
  return (Math.floor(offset / SECTOR_BYTES) + 1) * SECTOR_BYTES;
}

/** A whole, sector-aligned (by file offset) run of SECTOR_BYTES zeros, or a zero run to the end of `bytes` from a sector boundary. */
function hasZeroSector(bytes: Buffer, fileOffset: number): boolean {
  for (let at = nextSectorBoundary(fileOffset - 1) - fileOffset; at < bytes.length; at += SECTOR_BYTES) {
    if (at >= 0 && isZero(bytes.subarray(at, at + SECTOR_BYTES))) return true;
  }
  return false;
}

export function isZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}
