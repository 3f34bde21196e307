/**
 * SegmentLog: the embedded, durable EventLog. Records are framed (frame.ts)
 * and appended to segment files in a data directory, named by the sequence of
 * their first record (`00000000000000000001.seg`).
 *
 * Durability: an append resolves only after its bytes are written and
 * fdatasync'ed. Group commit: appends that arrive while a sync is running
 * wait for the next one and share it, so throughput is not capped at one
 * fsync per record.
 *
 * Recovery (open): every segment is scanned. A damaged tail of the last
 * segment (a crash mid-write) is reported and cut off; everything before it
 * is kept. Damage anywhere else is not a crash artefact: open refuses, naming
 * the segment and offset, rather than guess.
 */
import { mkdir, open, readFile, readdir, rm, stat, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { EventLog, LogRecord } from "./event-log.js";
import { decodeFrame, encodeFrame } from "./frame.js";
import { syncPath } from "./fsync.js";
import { acquireLock, releaseLock } from "./lock.js";

export interface SegmentLogOptions {
  /** Directory holding the segments; created if missing. */
  readonly dir: string;
  /** Start a new segment once the active one reaches this size. Default 64 MiB. */
  readonly segmentBytes?: number;
  /** Told about each damaged tail that recovery cut off. */
  readonly onDamage?: (report: DamageReport) => void;
  /** Told once if a write or fsync fails: the log then refuses appends until reopened. */
  readonly onFailure?: (error: Error) => void;
  /**
   * Read only: no lock, nothing cut, no appends. For reading a log another
   * process writes (its durable part; a damaged tail is reported, not cut).
   */
  readonly readOnly?: boolean;
}

export interface DamageReport {
  readonly segment: string;
  readonly offset: number;
  readonly reason: string;
  /** Bytes removed from the end of the segment. */
  readonly bytesCut: number;
}

export class LogCorruptionError extends Error {
  override readonly name = "LogCorruptionError";
}

export class LogClosedError extends Error {
  override readonly name = "LogClosedError";
}

/** Another process (or this one) has the log open for writing. */
export class LogLockedError extends Error {
  override readonly name = "LogLockedError";
}

const SEGMENT = /^(\d{20})\.seg$/;
const segmentName = (first: bigint) => `${first.toString().padStart(20, "0")}.seg`;
const READ_CHUNK = 1 << 20;

interface Segment {
  readonly file: string;
  readonly first: bigint;
  /** Durable bytes in the file. */
  size: number;
}

interface Pending {
  readonly sequence: bigint;
  readonly frame: Buffer;
  readonly resolve: (sequence: bigint) => void;
  readonly reject: (error: Error) => void;
}

export class SegmentLog implements EventLog {
  private readonly segments: Segment[];
  /** The segment appends go to (none when read-only). */
  private active: FileHandle | undefined;
  private next: bigint;
  private durableSequence: bigint;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failed: Error | undefined;
  private closed = false;
  private readonly listeners = new Set<(record: LogRecord) => void>();
  /** Counters for observability and tests: appends and the fsyncs they shared. */
  readonly stats = { appends: 0, syncs: 0 };

  private constructor(
    private readonly options: { dir: string; segmentBytes: number; onFailure?: (error: Error) => void; lock: string | undefined },
    segments: Segment[],
    active: FileHandle | undefined,
    lastSequence: bigint,
  ) {
    this.segments = segments;
    this.active = active;
    this.durableSequence = lastSequence;
    this.next = lastSequence + 1n;
  }

  static async open(options: SegmentLogOptions): Promise<SegmentLog> {
    const dir = path.resolve(options.dir);
    const segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    await mkdir(dir, { recursive: true });
    const lock = options.readOnly ? undefined : await acquireLock(dir);
    try {
      return await SegmentLog.recover(dir, segmentBytes, options, lock);
    } catch (e) {
      if (lock) await releaseLock(lock);
      throw e;
    }
  }

  private static async recover(dir: string, segmentBytes: number, options: SegmentLogOptions, lock: string | undefined): Promise<SegmentLog> {
    const segments = await listSegments(dir);
    let last = 0n;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      if (last !== 0n && segment.first !== last + 1n) {
        throw new LogCorruptionError(`${segment.file}: starts at ${segment.first}, expected ${last + 1n} (a segment is missing)`);
      }
      const isLast = i === segments.length - 1;
      const scan = await scanSegment(segment, segment.first);
      if (scan.damage) {
        // Only what a crash mid-write leaves may be cut: a torn last record, a
        // last record whose bytes did not all reach the disk, or zeros the
        // file system left past the end. Anything else is corruption with
        // good records after it: refuse, rather than delete acknowledged data.
        const tail = isLast && (scan.torn || (await onlyTailDamage(segment, scan.goodBytes, scan.damagedFrameBytes)));
        if (!tail) throw new LogCorruptionError(`${segment.file} at byte ${scan.goodBytes}: ${scan.damage} (not the tail of the log; repair or move the segment aside)`);
        if (!options.readOnly) await cutTail(segment.file, scan.goodBytes);
        options.onDamage?.({ segment: segment.file, offset: scan.goodBytes, reason: scan.damage, bytesCut: options.readOnly ? 0 : segment.size - scan.goodBytes });
        segment.size = scan.goodBytes;
      }
      if (scan.lastSequence !== undefined) last = scan.lastSequence;
    }
    if (segments.length === 0 && !options.readOnly) segments.push(await createSegment(dir, 1n));
    const active = options.readOnly ? undefined : await open(segments.at(-1)!.file, "a");
    return new SegmentLog({ dir, segmentBytes, onFailure: options.onFailure, lock }, segments, active, last);
  }

  get lastSequence(): bigint {
    return this.durableSequence;
  }

  get nextSequence(): bigint {
    return this.next;
  }

  get failure(): Error | undefined {
    return this.failed;
  }

  append(payload: Uint8Array): Promise<bigint> {
    if (this.closed) return Promise.reject(new LogClosedError("the log is closed"));
    if (!this.active) return Promise.reject(new LogClosedError("the log is open read-only"));
    if (this.failed) return Promise.reject(this.failed);
    const sequence = this.next++;
    const frame = encodeFrame(sequence, payload);
    this.stats.appends++;
    return new Promise((resolve, reject) => {
      this.queue.push({ sequence, frame, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.rollIfFull();
          const bytes = batch.reduce((n, p) => n + p.frame.length, 0);
          const active = this.active!;
          const { bytesWritten } = await active.writev(batch.map((p) => p.frame));
          if (bytesWritten !== bytes) throw new Error(`short write: ${bytesWritten} of ${bytes} bytes`);
          await active.datasync();
          this.stats.syncs++;
          this.segments.at(-1)!.size += bytes;
          this.durableSequence = batch.at(-1)!.sequence;
        } catch (e) {
          // The file's tail is now unknown: refuse everything until a reopen,
          // whose recovery cuts what was not completely written.
          this.failed = new Error(`event log write failed, log stopped: ${(e as Error).message}`);
          for (const p of [...batch, ...this.queue]) p.reject(this.failed);
          this.queue = [];
          this.options.onFailure?.(this.failed);
          return;
        }
        for (const p of batch) p.resolve(p.sequence);
        this.notify(batch);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private notify(batch: Pending[]): void {
    if (this.listeners.size === 0) return;
    for (const p of batch) {
      const record: LogRecord = { sequence: p.sequence, payload: p.frame.subarray(16) };
      for (const listener of this.listeners) {
        try {
          listener(record);
        } catch {
          // A listener's failure is its own; the log goes on.
        }
      }
    }
  }

  private async rollIfFull(): Promise<void> {
    if (this.segments.at(-1)!.size < this.options.segmentBytes) return;
    const next = await createSegment(this.options.dir, this.nextDurableStart());
    await this.active!.close();
    this.active = await open(next.file, "a");
    this.segments.push(next);
  }

  /** The first sequence of the next batch: one past the last durable record. */
  private nextDurableStart(): bigint {
    return this.durableSequence + 1n;
  }

  async *read(fromSequence = 1n): AsyncIterable<LogRecord> {
    const until = this.durableSequence;
    const segments = this.segments.map((s) => ({ ...s })); // sizes as of now
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      const nextFirst = segments[i + 1]?.first;
      if (nextFirst !== undefined && nextFirst <= fromSequence) continue; // wholly before
      for await (const record of readSegment(segment)) {
        if (record.sequence > until) return;
        if (record.sequence >= fromSequence) yield record;
      }
    }
  }

  subscribe(listener: (record: LogRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    this.listeners.clear();
    await this.active?.close();
    if (this.options.lock) await releaseLock(this.options.lock);
  }
}

/** A segment file as listed: its path, first sequence (from its name) and size. */
export interface SegmentFile {
  readonly file: string;
  readonly first: bigint;
  readonly size: number;
}

/** The segments of a data directory, in sequence order (archive readers list them the same way). */
export async function listSegments(dir: string): Promise<Segment[]> {
  const names = (await readdir(dir)).filter((n) => SEGMENT.test(n)).sort();
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(dir, name);
      return { file, first: BigInt(SEGMENT.exec(name)![1]!), size: (await stat(file)).size };
    }),
  );
}

async function createSegment(dir: string, first: bigint): Promise<Segment> {
  const file = path.join(dir, segmentName(first));
  const handle = await open(file, "a");
  await handle.sync();
  await handle.close();
  await syncPath(dir); // make the new file's name durable too
  return { file, first, size: 0 };
}

async function cutTail(file: string, size: number): Promise<void> {
  const handle = await open(file, "r+");
  try {
    await handle.truncate(size);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

interface ScanResult {
  goodBytes: number;
  lastSequence: bigint | undefined;
  damage: string | undefined;
  /** The damage is a frame cut short by the end of the file. */
  torn: boolean;
  /** Size of the damaged frame as its header says, when it has a header. */
  damagedFrameBytes: number | undefined;
}

/** Check every frame of a segment: checksums, and sequences counting up from `first`. */
async function scanSegment(segment: Segment, first: bigint): Promise<ScanResult> {
  let expected = first;
  let goodBytes = 0;
  let lastSequence: bigint | undefined;
  try {
    for await (const record of readSegment(segment)) {
      if (record.sequence !== expected) {
        return { goodBytes, lastSequence, damage: `record sequence ${record.sequence}, expected ${expected}`, torn: false, damagedFrameBytes: 16 + record.payload.length };
      }
      goodBytes += 16 + record.payload.length;
      lastSequence = record.sequence;
      expected++;
    }
  } catch (e) {
    if (e instanceof FrameDamageError) return { goodBytes: e.offset, lastSequence, damage: e.message, torn: e.torn, damagedFrameBytes: e.frameBytes };
    throw e;
  }
  return { goodBytes, lastSequence, damage: undefined, torn: false, damagedFrameBytes: undefined };
}

export class FrameDamageError extends Error {
  override readonly name = "FrameDamageError";
  constructor(
    readonly file: string,
    readonly offset: number,
    reason: string,
    /** Cut short by the end of the file. */
    readonly torn = false,
    /** The damaged frame's size, as its header says. */
    readonly frameBytes?: number,
  ) {
    super(reason);
  }
}

/** A damaged last frame that ends exactly at the end of the file, or nothing but zeros from it on. */
async function onlyTailDamage(segment: Segment, offset: number, frameBytes: number | undefined): Promise<boolean> {
  if (frameBytes !== undefined && offset + frameBytes === segment.size) return true;
  const handle = await open(segment.file, "r");
  try {
    const rest = Buffer.alloc(segment.size - offset);
    await handle.read(rest, 0, rest.length, offset);
    return rest.every((b) => b === 0);
  } finally {
    await handle.close();
  }
}

/**
 * Stream the frames of one segment, up to its durable size, in chunks (memory
 * stays at about one chunk plus the largest record). Throws FrameDamageError
 * at the first damaged frame.
 */
export async function* readSegment(segment: { file: string; size: number }): AsyncIterable<LogRecord> {
  const handle = await open(segment.file, "r");
  try {
    let buffered = Buffer.alloc(0);
    let fileOffset = 0; // file position of buffered[0]
    let readPos = 0;
    while (true) {
      let offset = 0;
      while (true) {
        const frame = decodeFrame(buffered, offset);
        if (frame.kind === "damaged" && !frame.torn) {
          const length = buffered.length - offset >= 4 ? buffered.readUInt32LE(offset) : undefined;
          throw new FrameDamageError(segment.file, fileOffset + offset, frame.reason, false, length === undefined ? undefined : 16 + length);
        }
        if (frame.kind !== "record") break; // the end of the buffer, or a frame that needs more bytes
        yield { sequence: frame.sequence, payload: Buffer.from(frame.payload) };
        offset += frame.size;
      }
      buffered = buffered.subarray(offset);
      fileOffset += offset;
      if (readPos >= segment.size) {
        if (buffered.length > 0) {
          const frame = decodeFrame(buffered, 0);
          throw new FrameDamageError(segment.file, fileOffset, frame.kind === "damaged" ? frame.reason : "trailing bytes", frame.kind === "damaged" && frame.torn);
        }
        return;
      }
      const want = Math.min(READ_CHUNK, segment.size - readPos);
      const chunk = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(chunk, 0, want, readPos);
      if (bytesRead === 0) throw new FrameDamageError(segment.file, fileOffset, "file shorter than expected");
      readPos += bytesRead;
      buffered = buffered.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([buffered, chunk.subarray(0, bytesRead)]);
    }
  } finally {
    await handle.close();
  }
}
