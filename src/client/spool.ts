/**
 * The emitter's on-disk spool: events that could not be delivered at once
 * wait here, in order, until the background sender delivers them.
 *
 * It is the collector's own log (SegmentLog: checksums over every byte, a
 * complete damaged record refused rather than cut, a lock that survives pid
 * reuse) plus `state.json` (spool-state.ts). Nothing it loses is silent:
 *
 * - A torn tail (what a crash mid-write leaves, or bytes cut off the end) is
 *   cut by the log's recovery, and reported with the event ids its bytes
 *   still show.
 * - Damage recovery refuses (a bad checksum in the middle) is moved aside
 *   with `repairLog` (no byte deleted) and reported with its event ids.
 * - A log shorter than the state says (truncated, deleted) is reported, and
 *   the spool moves on to a fresh log *generation* (`log.N`), so a sequence
 *   number that the state counts as delivered is never given to a new event.
 * - After a failed write (a full disk) the log is reopened by the next add,
 *   so the spool recovers by itself once space returns.
 *
 * Disk use stays bounded: once everything is delivered the spool starts a
 * fresh generation and deletes the old one (whole-generation reclaim).
 */
import { readFile, readdir, rm, appendFile } from "node:fs/promises";
import path from "node:path";
import type { SessionEndEventJson, SessionStartEventJson } from "../contract/types.js";
import { SessionEventsError, type ErrorCode } from "../errors.js";
import { LogCorruptionError, SegmentLog, listSegments, type DamageReport } from "../store/segment-log.js";
import { HEADER_BYTES } from "../store/frame.js";
import { repairLog } from "../store/repair.js";
import { logDirName, readState, writeState, type SpoolState } from "./spool-state.js";
import { PlaceholderJournal, type Learnt } from "./spool-placeholders.js";

export type SpooledEvent =
  | { readonly kind: "start"; readonly event: SessionStartEventJson }
  | { readonly kind: "end"; readonly event: SessionEndEventJson };

/** One record of the spool: the event, and when it was spooled (ms since epoch). */
export interface SpoolRecord {
  readonly sequence: bigint;
  readonly spooled: SpooledEvent;
  readonly at: number;
}

/** Something went wrong with the spool itself; `eventIds` names the events concerned, where known. */
export class SpoolError extends SessionEventsError {
  override name = "SpoolError";
  constructor(
    message: string,
    code: ErrorCode,
    readonly eventIds: readonly string[] = [],
    cause?: unknown,
  ) {
    super(message, { code, cause });
  }
}

export interface SpoolOptions {
  readonly dir: string;
  /** Told about every anomaly: losses (DATA_LOSS), a damaged state, a failed write. */
  readonly onError: (error: SpoolError) => void;
  /** Segment size of the log. Default 4 MiB. */
  readonly segmentBytes?: number;
  /** How long a placeholder's session id is kept after it was learnt. */
  readonly placeholderRetentionMs: number;
  /** Write the progress at most this often. Default 200 ms. */
  readonly stateSaveDelayMs?: number;
  /** Told when disk space was given back (segments removed, a generation reclaimed). */
  readonly onSpace?: () => void;
  /** Start a fresh generation once everything is delivered and the log is at least this big. Default 64 KiB. */
  readonly rotateAfterBytes?: number;
  readonly now?: () => number;
}

/** What names an event in a spool record's JSON: a start's event_id, an end's session_id (ends have no event_id). */
const EVENT_NAME = /"(event_id|session_id)":"([^"\\]{1,100})"/g;

/** Records the sender's reads bring in at once (about 500 bytes each). */
const READ_AHEAD = 256;

/** The placeholders' journal, beside state.json (spool-placeholders.ts). */
const PLACEHOLDERS_FILE = "placeholders.jsonl";

export class Spool {
  private state: SpoolState;
  private readonly resolved: Map<string, readonly [string, number]>;
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;
  private logBytes = 0;
  private appending = new Set<Promise<unknown>>();
  private rotating: Promise<void> | undefined;
  private reopening: Promise<void> | undefined;
  private closed = false;
  /** Records read ahead of delivery, oldest first (durable records never change: only a new generation drops them). */
  private readAhead: SpoolRecord[] = [];
  /** When the next pending record was spooled (read by the sender), for stats. */
  oldestPendingAt: number | undefined;
  /** How many times state.json was written (it is written in batches, not per event). */
  stateWrites = 0;

  /** Placeholders learnt since the last save: appended to the journal by the next one. */
  private unsaved: Learnt[] = [];

  private constructor(
    private readonly options: SpoolOptions,
    private log: SegmentLog,
    state: SpoolState,
    private readonly journal: PlaceholderJournal,
    resolved: Map<string, readonly [string, number]>,
  ) {
    this.state = state;
    this.resolved = resolved;
  }

  static async open(options: SpoolOptions): Promise<Spool> {
    const now = options.now ?? Date.now;
    const stateFile = path.join(options.dir, "state.json");
    const read = await readState(stateFile, now());
    if (read.damaged) {
      options.onError(
        new SpoolError(
          `spool ${options.dir}: state.json is damaged (${read.damaged.reason}); moved aside to ${read.damaged.movedTo}. ` +
            `Delivery starts again from the oldest spooled event: the collector recognises what it already has by event_id`,
          "DATA_LOSS",
        ),
      );
    }
    const state = read.state;
    const placeholders = await PlaceholderJournal.load(path.join(options.dir, PLACEHOLDERS_FILE));
    if (placeholders.unreadable > 0) {
      options.onError(
        new SpoolError(
          `spool ${options.dir}: ${placeholders.unreadable} unreadable lines in ${PLACEHOLDERS_FILE}: ` +
            "the session ids of their placeholders are lost (an end sent with one of them is refused NOT_FOUND, see rejected.jsonl)",
          "DATA_LOSS",
        ),
      );
    }
    // An older state.json carried the placeholders itself: they move to the journal with the next save.
    const resolved = new Map(state.resolved);
    for (const [placeholder, id, at] of placeholders.entries) resolved.set(placeholder, [id, at]);
    const logDir = path.join(options.dir, logDirName(state.generation));
    const { log, cut } = await openLog(logDir, options, (e) => spool?.failed(e));
    const spool: Spool = new Spool(options, log, state, placeholders.journal, resolved);
    if (state.resolved.size > 0) spool.unsaved = [...resolved].map(([p, [id, at]]) => [p, id, at] as const);
    try {
      for (const { report, ids } of cut) {
        // The record cut is the one after the log's new end.
        const sequence = log.lastSequence + 1n;
        const delivered = read.found && sequence <= state.delivered;
        const acknowledged = read.found && sequence <= state.spooled;
        options.onError(
          new SpoolError(
            `spool ${logDir}: a torn record at the end of ${report.segment} (byte ${report.offset}, ${report.bytesCut} bytes) was cut: ` +
              (delivered
                ? "it had been delivered, nothing is lost"
                : acknowledged
                  ? "it had been spooled and not delivered: its event is lost"
                  : "a crash while it was being written, or bytes cut off the end: if emit had returned for it, its event is lost") +
              (ids.length ? ` (${ids.join(", ")})` : ""),
            delivered ? "OUT_OF_RANGE" : "DATA_LOSS",
            ids,
          ),
        );
      }
      // A log shorter than the state says lost records, and its numbers would be given out again.
      if (read.found && log.lastSequence < state.spooled) {
        const lostPending = state.spooled > state.delivered && log.lastSequence < state.spooled;
        // biome-ignore lint/complexity/useMathMinMax: bigints (Math.max takes numbers only)
        const from = (log.lastSequence > state.delivered ? log.lastSequence : state.delivered) + 1n;
        options.onError(
          new SpoolError(
            `spool ${logDir}: the log ends at record ${log.lastSequence}, but the spool had written up to ${state.spooled} ` +
              `(delivered up to ${state.delivered}). ` +
              (lostPending
                ? `Records ${from}..${state.spooled} were never delivered and are lost (their ids are in the reports above, where their bytes remained)`
                : "Every lost record had been delivered: nothing is lost") +
              (log.lastSequence < state.delivered
                ? `; the spool continues in a fresh log so that no delivered number is given out again`
                : ""),
            lostPending ? "DATA_LOSS" : "OUT_OF_RANGE",
          ),
        );
      }
      if (log.lastSequence < state.delivered) await spool.rotate();
      // Delivered segments are removed only after the state saying so is durable: a gap before the first
      // record held means segments were removed by something else.
      const first = spool.log.firstSequence;
      if (spool.state.delivered + 1n < first && spool.log.lastSequence >= first - 1n) {
        if (read.found) {
          options.onError(
            new SpoolError(
              `spool ${logDir}: records ${spool.state.delivered + 1n}..${first - 1n} were never delivered, and their segments are gone: those events are lost`,
              "DATA_LOSS",
            ),
          );
        }
        spool.state = { ...spool.state, delivered: first - 1n };
      }
      await spool.removeOtherGenerations();
      spool.logBytes = await logSize(spool.logDir);
      return spool;
    } catch (e) {
      await log.close().catch(() => {});
      await spool.log.close().catch(() => {});
      throw e;
    }
  }

  private get logDir(): string {
    return path.join(this.options.dir, logDirName(this.state.generation));
  }

  private get stateFile(): string {
    return path.join(this.options.dir, "state.json");
  }

  get rejectedFile(): string {
    return path.join(this.options.dir, "rejected.jsonl");
  }

  /** Records spooled and not yet delivered. */
  get pendingCount(): number {
    const pending =
      this.log.lastSequence -
      (this.state.delivered > this.log.firstSequence - 1n ? this.state.delivered : this.log.firstSequence - 1n);
    return pending > 0n ? Number(pending) : 0;
  }

  /** Bytes of the log on disk (segments; the small state file aside). */
  get bytes(): number {
    return this.logBytes;
  }

  /** Keep an event; resolves once it is durable. A failed log (a full disk) is reopened first. */
  async add(spooled: SpooledEvent): Promise<bigint> {
    if (this.closed) throw new SpoolError("the spool is closed", "UNAVAILABLE");
    while (this.rotating) await this.rotating;
    if (this.log.failure) await this.reopen();
    const payload = Buffer.from(JSON.stringify({ ...spooled, at: (this.options.now ?? Date.now)() }));
    const appended = this.log.append(payload);
    this.appending.add(appended);
    try {
      const sequence = await appended;
      this.logBytes += HEADER_BYTES + payload.length;
      return sequence;
    } catch (e) {
      throw new SpoolError(
        `spool ${this.logDir}: could not keep the event: ${(e as Error).message}`,
        "UNAVAILABLE",
        eventIdsIn(payload),
        e,
      );
    } finally {
      this.appending.delete(appended);
    }
  }

  /**
   * Up to `max` records waiting for delivery, oldest first. Served from a
   * read-ahead of READ_AHEAD records: a read of the log seeks to the last
   * index point (up to 256 KiB before) and reads a chunk, which per batch of
   * a few events cost the host's event loop more than the events did.
   */
  async pending(max: number): Promise<SpoolRecord[]> {
    if (this.pendingCount === 0) {
      this.readAhead = [];
      this.oldestPendingAt = undefined;
      return [];
    }
    const next = this.state.delivered + 1n;
    const from = next > this.log.firstSequence ? next : this.log.firstSequence;
    let skip = 0;
    while (skip < this.readAhead.length && this.readAhead[skip]!.sequence < from) skip++;
    if (skip > 0) this.readAhead = this.readAhead.slice(skip);
    if (this.readAhead.length < max && this.readAhead.length < this.pendingCount) {
      this.readAhead = await this.readFrom(from, Math.max(max, READ_AHEAD));
    }
    const records = this.readAhead.slice(0, max);
    this.oldestPendingAt = records[0]?.at;
    return records;
  }

  private async readFrom(from: bigint, max: number): Promise<SpoolRecord[]> {
    const records: SpoolRecord[] = [];
    for await (const record of this.log.read(from)) {
      const parsed = JSON.parse(Buffer.from(record.payload).toString("utf8")) as SpooledEvent & { at?: number };
      records.push({
        sequence: record.sequence,
        spooled: { kind: parsed.kind, event: parsed.event } as SpooledEvent,
        at: parsed.at ?? 0,
      });
      if (records.length >= max) break;
    }
    return records;
  }

  /** Delivery got through `sequence` (the records before it were delivered or set aside). Saved in a batch. */
  advance(sequence: bigint, learnt: Iterable<readonly [string, string]> = []): void {
    const now = (this.options.now ?? Date.now)();
    for (const [placeholder, id] of learnt) this.remember(placeholder, id, now);
    if (sequence > this.state.delivered) this.state = { ...this.state, delivered: sequence };
    this.scheduleSave();
  }

  /** The collector's id for a placeholder, while it is within the retention window. */
  resolvedId(placeholder: string): string | undefined {
    const entry = this.resolved.get(placeholder);
    if (!entry || entry[1] < (this.options.now ?? Date.now)() - this.options.placeholderRetentionMs) return undefined;
    return entry[0];
  }

  /** Learn a placeholder's id outside the spool's order (a start delivered late, say). */
  learn(placeholder: string, id: string): void {
    this.remember(placeholder, id, (this.options.now ?? Date.now)());
    this.scheduleSave();
  }

  private remember(placeholder: string, id: string, at: number): void {
    this.resolved.set(placeholder, [id, at]);
    this.unsaved.push([placeholder, id, at]);
  }

  /** An event the collector refuses for good: kept in rejected.jsonl, never silently dropped. */
  async setAside(spooled: SpooledEvent, error: unknown): Promise<void> {
    const line = {
      event: spooled,
      error: (error as Error)?.message ?? String(error),
      at: new Date((this.options.now ?? Date.now)()).toISOString(),
    };
    await appendFile(this.rejectedFile, `${JSON.stringify(line)}\n`);
  }

  /** Write the progress now (flush, close); `compact`: rewrite the journal without its stale lines (close). */
  async save({ compact = false } = {}): Promise<void> {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const run = this.saving.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      this.prune();
      const state: SpoolState = { ...this.state, spooled: this.log.lastSequence, resolved: new Map() };
      const learnt = this.unsaved;
      this.unsaved = [];
      try {
        // The ids first: the state that counts their starts as delivered must never be on disk without them.
        if (compact && this.journal.stale(this.resolved.size) > 0) await this.journal.rewrite(this.resolved);
        else await this.journal.save(learnt, this.resolved);
        await writeState(this.stateFile, state);
        this.stateWrites++;
      } catch (e) {
        this.unsaved = [...learnt, ...this.unsaved];
        this.dirty = true; // try again with the next batch
        this.options.onError(
          new SpoolError(
            `spool ${this.options.dir}: could not write state.json: ${(e as Error).message}`,
            "UNAVAILABLE",
            [],
            e,
          ),
        );
        return;
      }
      // Only now that the state says they are delivered: their segments go.
      if (this.closed || this.rotating) return;
      try {
        const removed = await this.log.removeSegmentsBefore(state.delivered + 1n);
        if (removed.length > 0) {
          this.logBytes = await logSize(this.logDir);
          this.options.onSpace?.();
        }
      } catch (e) {
        this.options.onError(
          new SpoolError(
            `spool ${this.logDir}: could not remove delivered segments: ${(e as Error).message}`,
            "UNAVAILABLE",
            [],
            e,
          ),
        );
      }
    });
    this.saving = run.catch(() => {});
    return run;
  }

  /**
   * Once everything is delivered, start a fresh log generation and delete
   * the old one: the spool's disk use goes back to a segment header.
   */
  async reclaim(): Promise<void> {
    if (this.pendingCount > 0 || this.logBytes < (this.options.rotateAfterBytes ?? 64 * 1024) || this.rotating) return;
    await this.rotate();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    while (this.rotating) await this.rotating;
    this.dirty = true;
    await this.save({ compact: true }).catch(() => {}); // and removes the segments it says are delivered
    this.closed = true;
    await this.log.close();
  }

  private scheduleSave(): void {
    this.dirty = true;
    if (this.saveTimer || this.closed) return;
    this.saveTimer = setTimeout(() => void this.save().catch(() => {}), this.options.stateSaveDelayMs ?? 200);
    this.saveTimer.unref();
  }

  private prune(): void {
    const oldest = (this.options.now ?? Date.now)() - this.options.placeholderRetentionMs;
    for (const [placeholder, [, at]] of this.resolved) if (at < oldest) this.resolved.delete(placeholder);
  }

  /**
   * A fresh, empty generation: opened first, then the state points to it,
   * then the old one is deleted. A crash in between leaves a directory that
   * the next open deletes (removeOtherGenerations).
   */
  private async rotate(): Promise<void> {
    let done!: () => void;
    this.rotating = new Promise((r) => (done = r));
    try {
      await Promise.allSettled([...this.appending]);
      if (this.log.lastSequence > this.state.delivered) return; // something arrived meanwhile
      const old = this.logDir;
      const generation = this.state.generation + 1;
      const { log: next } = await openLog(path.join(this.options.dir, logDirName(generation)), this.options, (e) =>
        this.failed(e),
      );
      await this.log.close();
      this.log = next;
      this.readAhead = []; // the old generation's numbers
      this.state = { generation, delivered: 0n, spooled: 0n, resolved: this.resolved };
      this.dirty = true;
      await this.save();
      await rm(old, { recursive: true, force: true });
      this.logBytes = await logSize(this.logDir);
      this.options.onSpace?.();
    } finally {
      this.rotating = undefined;
      done();
    }
  }

  private async removeOtherGenerations(): Promise<void> {
    const current = logDirName(this.state.generation);
    for (const name of await readdir(this.options.dir)) {
      if ((name === "log" || /^log\.\d+$/.test(name)) && name !== current)
        await rm(path.join(this.options.dir, name), { recursive: true, force: true });
    }
  }

  private failed(error: Error): void {
    this.options.onError(
      new SpoolError(
        `spool ${this.logDir}: a write failed (${error.message}); the spool reopens its log on the next event`,
        "UNAVAILABLE",
        [],
        error,
      ),
    );
  }

  /** After a failed write: close and open again, whose recovery cuts what was not completely written. */
  private async reopen(): Promise<void> {
    this.reopening ??= (async () => {
      try {
        await this.log.close().catch(() => {});
        const { log, cut } = await openLog(this.logDir, this.options, (e) => this.failed(e));
        this.log = log;
        for (const { report } of cut) {
          this.options.onError(
            new SpoolError(
              `spool ${this.logDir}: after the failed write, ${report.bytesCut} bytes that never became a whole record were cut from ${report.segment}: never acknowledged, nothing lost`,
              "ABORTED",
            ),
          );
        }
        this.logBytes = await logSize(this.logDir);
      } finally {
        this.reopening = undefined;
      }
    })();
    await this.reopening;
  }
}

/**
 * Open a spool log. Before the real open cuts a torn tail, a read-only look
 * reads the ids still visible in its bytes; damage that open refuses is
 * moved aside (repairLog) and reported with its ids, and the log is opened again.
 */
async function openLog(
  dir: string,
  options: SpoolOptions,
  onFailure: (e: Error) => void,
): Promise<{ log: SegmentLog; cut: { report: DamageReport; ids: string[] }[] }> {
  const segmentBytes = options.segmentBytes ?? 4 * 1024 * 1024;
  const tails: { report: DamageReport; ids: string[] }[] = [];
  try {
    const look = await SegmentLog.open({ dir, readOnly: true, onDamage: (report) => tails.push({ report, ids: [] }) });
    await look.close();
    for (const tail of tails)
      tail.ids = eventIdsIn(await readFile(tail.report.segment).then((b) => b.subarray(tail.report.offset)));
  } catch (e) {
    if (!(e instanceof LogCorruptionError)) throw e;
    const repaired = await repairLog(dir);
    const ids = (await Promise.all(repaired.movedAside.map((f) => readFile(f)))).flatMap(eventIdsIn);
    options.onError(
      new SpoolError(
        `spool ${dir}: damaged records (${e.message}) were moved aside to ${repaired.movedAside.join(", ") || "nowhere (no bytes)"}; ` +
          `the events in them are lost to delivery${ids.length ? `: ${ids.join(", ")}` : ""}`,
        "DATA_LOSS",
        ids,
        e,
      ),
    );
  }
  const cut: { report: DamageReport; ids: string[] }[] = [];
  const log = await SegmentLog.open({
    dir,
    segmentBytes,
    onFailure,
    onDamage: (report) =>
      cut.push({
        report,
        ids: tails.find((t) => t.report.segment === report.segment && t.report.offset === report.offset)?.ids ?? [],
      }),
  });
  return { log, cut };
}

async function logSize(dir: string): Promise<number> {
  return (await listSegments(dir)).reduce((n, s) => n + s.size, 0);
}

/** The events named in (possibly partial) record bytes: "event_id X" for a start, "end of session Y" for an end. */
function eventIdsIn(bytes: Uint8Array): string[] {
  return [...Buffer.from(bytes).toString("utf8").matchAll(EVENT_NAME)].map((m) =>
    m[1] === "event_id" ? `event_id ${m[2]}` : `end of session ${m[2]}`,
  );
}
