/**
 * Segment files seen from outside, for the fault tests: parse a good segment
 * into its frames (offsets, sizes, group ends), copy a data directory, read a
 * whole log back, and run the real CLI. Parsing here is deliberately
 * independent of the log's reader: it only trusts a file the log wrote whole.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, copyFileSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { crc32 } from "node:zlib";
import type { EventLog } from "../../src/store/event-log.js";
import { cliBin } from "./repo.js";

export const SEGMENT_HEADER = 32;
export const FRAME_HEADER = 24;

export interface ParsedFrame {
  /** Byte offset of the frame in its segment file. */
  readonly offset: number;
  /** Bytes of the frame, header included. */
  readonly size: number;
  readonly sequence: bigint;
  /** GROUP_CONTINUES: the next frame belongs to the same atomic group. */
  readonly continues: boolean;
  readonly payload: Buffer;
}

/** The frames of a segment the log wrote whole; throws on anything else (the fixture itself must be good). */
export function parseSegment(bytes: Buffer): ParsedFrame[] {
  if (
    bytes.subarray(0, 8).toString("latin1") !== "SEVTSEG\n" ||
    bytes.readUInt32LE(28) !== crc32(bytes.subarray(0, 28))
  )
    throw new Error("not a good format-2 segment header");
  const frames: ParsedFrame[] = [];
  for (let at = SEGMENT_HEADER; at < bytes.length; ) {
    const length = bytes.readUInt32LE(at);
    const payload = bytes.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length);
    if (
      bytes.readUInt32LE(at + 20) !== crc32(bytes.subarray(at, at + 20)) ||
      payload.length !== length ||
      crc32(payload) !== bytes.readUInt32LE(at + 16)
    ) {
      throw new Error(`fixture segment damaged at byte ${at}`);
    }
    frames.push({
      offset: at,
      size: FRAME_HEADER + length,
      sequence: bytes.readBigUInt64LE(at + 8),
      continues: (bytes.readUInt32LE(at + 4) & 1) === 1,
      payload: Buffer.from(payload),
    });
    at += FRAME_HEADER + length;
  }
  return frames;
}

/** Offsets where an atomic group ends (where a crash may leave the file whole), the empty segment's 32 included. */
export function groupEnds(frames: readonly ParsedFrame[]): number[] {
  return [SEGMENT_HEADER, ...frames.filter((f) => !f.continues).map((f) => f.offset + f.size)];
}

/** The segment files of a data directory, in order (full paths). */
export function segmentPaths(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => /^\d{20}\.seg$/.test(n))
    .sort()
    .map((n) => path.join(dir, n));
}

/** Copy a data directory's files (segments, REPAIRS; never the LOCK, nor the state store, which is rebuilt from them) into `to`. */
export function copyDataDir(from: string, to: string): void {
  for (const entry of readdirSync(from, { withFileTypes: true }))
    if (entry.isFile() && entry.name !== "LOCK") copyFileSync(path.join(from, entry.name), path.join(to, entry.name));
}

/**
 * A scratch directory for sweeps of thousands of opens: on tmpfs when there
 * is one (the same files and syscalls, without a disk's fsync latency), else
 * the system's temporary directory.
 */
export function scratchDir(prefix: string): string {
  try {
    accessSync("/dev/shm", constants.W_OK);
    return mkdtempSync(path.join("/dev/shm", prefix));
  } catch {
    return mkdtempSync(path.join(tmpdir(), prefix));
  }
}

/** Every record of a log, as plain buffers. */
export async function readAll(log: EventLog): Promise<{ sequence: bigint; payload: Buffer }[]> {
  const out: { sequence: bigint; payload: Buffer }[] = [];
  for await (const r of log.read()) out.push({ sequence: r.sequence, payload: Buffer.from(r.payload) });
  return out;
}

/** The real `session-events` executable (dist/src/cli/bin.js) in a child process. */
export function runCli(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cliBin, ...args], { encoding: "utf8", timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
