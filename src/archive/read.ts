/**
 * readArchive: an async iterator of contract events from any input the
 * archive tools read (a data directory, a segment file, length-delimited
 * protobufs, JSON Lines; gzip'ed or not). Each event is validated; damage is
 * stopped at or skipped, as the caller chose, and always reported.
 *
 *   for await (const event of readArchive("./session-events-data")) {
 *     console.log(event.type, event.json);
 *   }
 */
import { ArchiveDamageError, type ArchiveDamage, type DamagePolicy } from "./damage.js";
import { decodeRecord, RecordError, type RecordMessage } from "./codec.js";
import type { ArchiveEvent, RecordPosition } from "./event.js";
import { compileFilter, type EventFilter } from "./filter.js";
import { parseLine } from "./lines.js";
import type { RawItem } from "./raw-record.js";
import { openSource, type InputFormat, type OpenedSource } from "./source.js";
import { SummaryBuilder, type ArchiveSummary } from "./summary.js";
import { SessionEventsError } from "../errors.js";

/** How an input is read: its format, a filter, what to do with damage, progress. */
export interface ReadOptions {
  /** Default "auto": by name (.seg, .jsonl, .ndjson), else by the first bytes. */
  readonly format?: InputFormat;
  /** What each binary record holds, for delimited input. Default "LogEntry" (segments always hold LogEntry). */
  readonly message?: RecordMessage;
  readonly filter?: EventFilter;
  /** Default "stop": throw ArchiveDamageError at the first damaged record. */
  readonly onDamage?: DamagePolicy;
  /** Told of progress: input bytes read so far (as stored), and the total when known. */
  readonly onProgress?: (progress: ReadProgress) => void;
}

/** How far a read has come. */
export interface ReadProgress {
  readonly bytes: number;
  readonly totalBytes: number | undefined;
  readonly events: number;
}

/** The events of an input, as an async iterable, with the counts of the latest pass. */
export interface ArchiveReader extends AsyncIterable<ArchiveEvent> {
  /** Counts of the latest iteration so far (complete once it ends): events, damage, types, time span. A copy. */
  summary(): ArchiveSummary;
}

/**
 * Read the events of a log directory, a segment, length-delimited messages or JSON Lines (gzip'd or not), each checked against the contract; damage goes to `options.onDamage`.
 *
 * @example
 * ```ts
 * import { readArchive } from "session-events/archive";
 * for await (const { type, json } of readArchive("./data")) console.log(type, json);
 * ```
 */
export function readArchive(input: string, options: ReadOptions = {}): ArchiveReader {
  let pass = startPass(options); // a bad filter fails here, before any reading
  return {
    [Symbol.asyncIterator]: () => {
      pass = startPass(options); // each iteration is a pass of its own, with its own counts
      return readEvents(input, options, pass);
    },
    summary: () => structuredClone(pass.tally.finish()),
  };
}

/** One pass over an archive: its tally, and how damage is reported (for the export and import jobs too). */
export interface Pass {
  readonly tally: SummaryBuilder;
  readonly keep: (event: ArchiveEvent) => boolean;
  /** Count the damage; throw ArchiveDamageError under "stop", else tell the policy (and wait for it). */
  report(damage: ArchiveDamage, ofRecord?: boolean): Promise<void>;
}

export function startPass(options: ReadOptions): Pass {
  const keep = compileFilter(options.filter); // a bad filter fails here, before any reading
  const tally = new SummaryBuilder();
  const policy = options.onDamage ?? "stop";
  return {
    tally,
    keep,
    async report(damage, ofRecord = true) {
      tally.damage(damage, ofRecord);
      if (policy === "stop") throw new ArchiveDamageError(damage);
      await policy(damage); // a policy that writes a report may make reading wait for it
    },
  };
}

export async function* readEvents(input: string, options: ReadOptions, pass: Pass): AsyncGenerator<ArchiveEvent> {
  for await (const batch of readEventBatches(input, options, pass)) yield* batch as ArchiveEvent[];
}

/**
 * A fast path for records (archive/transcode.ts): `record` writes a record's
 * output into its own buffer and counts it in the tally, or returns false
 * when the record needs the reference path (decodeRecord), which then judges
 * and reports it; `take` hands over the bytes written so far.
 */
export interface RecordFastPath {
  record(payload: Uint8Array, sequence: bigint | undefined, tally: SummaryBuilder): boolean;
  take(): Uint8Array;
  readonly pending: boolean;
}

/**
 * The events of an input in batches, one batch per chunk read (records are
 * handled synchronously inside it). With `fast` (and no filter), records it
 * takes come out as the bytes it wrote (a Uint8Array of whole lines) instead
 * of events.
 */
export async function* readEventBatches(
  input: string,
  options: ReadOptions,
  pass: Pass,
  fast?: RecordFastPath,
): AsyncGenerator<(ArchiveEvent | Uint8Array)[]> {
  const { tally } = pass;
  let bytes = 0;
  let totalBytes: number | undefined;
  // Bytes read while the source is opened (sniffing its format) are reported once its size is known:
  // a first report without the total would draw a bar-less line.
  let opened = false;
  const report = () => options.onProgress!({ bytes, totalBytes, events: tally.summary.events });
  const onBytes =
    options.onProgress &&
    ((n: number) => {
      bytes += n;
      if (opened) report();
    });
  const source = await openSource(input, options.format ?? "auto", onBytes);
  try {
    totalBytes = source.totalBytes;
    opened = true;
    if (options.onProgress && bytes > 0) report();
    yield* eventsOf(source, options, pass, hasFilter(options.filter) ? undefined : fast);
  } finally {
    await source.close();
  }
}

/** Events handed out at once, at most: a chunk's worth of them would hold several MiB of heap. */
const MAX_BATCH = 512;

const hasFilter = (f: EventFilter | undefined) =>
  !!f && (!!f.families?.length || !!f.types?.length || f.since !== undefined || f.until !== undefined);

async function* eventsOf(
  source: OpenedSource,
  options: ReadOptions,
  { tally, keep, report }: Pass,
  fast: RecordFastPath | undefined,
): AsyncGenerator<(ArchiveEvent | Uint8Array)[]> {
  if (options.message && options.message !== "LogEntry" && source.format !== "delimited") {
    throw new SessionEventsError(
      `message ${options.message}: only length-delimited input holds bare messages, and this input is read as ${source.format}`,
      { code: "INVALID_ARGUMENT" },
    );
  }
  const as: RecordMessage = source.format === "delimited" ? (options.message ?? "LogEntry") : "LogEntry";
  const fastRecords = as === "LogEntry" ? fast : undefined;
  for await (const part of source.parts) {
    let index = 0;
    for await (const batch of part.items) {
      let out: (ArchiveEvent | Uint8Array)[] = [];
      let fastCount = 0; // records the fast path holds, not yet in `out`
      const takeOut = () => {
        if (fastRecords?.pending) out.push(fastRecords.take());
        fastCount = 0;
        const taken = out;
        out = [];
        return taken;
      };
      // Damage is reported after the events before it have been handed out (under "stop" it throws).
      const reportAfterOut = async function* (damage: ArchiveDamage, ofRecord: boolean) {
        const taken = takeOut();
        if (taken.length > 0) yield taken;
        await report(damage, ofRecord);
      };
      for (const item of batch) {
        if (item.kind === "unfinished") {
          tally.summary.unfinishedTail = { source: part.name, offset: item.offset, bytes: item.bytes };
          continue;
        }
        if (item.kind === "damage") {
          const ofRecord = item.bytes > 0; // a gap in sequences is not a record of its own
          if (ofRecord) index++;
          const where = ofRecord ? { index } : { index, after: true }; // not a record: it lies after record `index`
          yield* reportAfterOut(
            rawDamage(item, {
              source: part.name,
              ...where,
              offset: item.offset,
              line: item.line,
              sequence: item.sequence,
            }),
            ofRecord,
          );
          continue;
        }
        index++;
        if (fastRecords && item.kind === "record") {
          if (fastRecords.record(item.payload, item.sequence, tally)) {
            if (++fastCount >= MAX_BATCH) yield takeOut();
            continue;
          }
          if (fastRecords.pending) out.push(fastRecords.take()); // what it wrote comes before this record's output
        }
        const position: RecordPosition =
          item.kind === "line"
            ? { source: part.name, index, offset: item.offset, line: item.line }
            : { source: part.name, index, offset: item.offset, sequence: item.sequence };
        const event = decode(item, as, position);
        if (event === undefined) continue; // a log record that holds no event
        if ("rule" in event) {
          yield* reportAfterOut(event, true);
          continue;
        }
        tally.event(event);
        if (!keep(event)) tally.summary.filteredOut++;
        else if (out.push(event) >= MAX_BATCH) yield takeOut();
      }
      const taken = takeOut();
      if (taken.length > 0) yield taken;
    }
  }
}

/** The record's event, or the damage that keeps it from being one. */
function decode(
  item: Extract<RawItem, { kind: "record" | "line" }>,
  as: RecordMessage,
  position: RecordPosition,
): ArchiveEvent | ArchiveDamage | undefined {
  const bytes = item.kind === "line" ? item.bytes : item.payload.length;
  try {
    return item.kind === "line" ? parseLine(item.text, position) : decodeRecord(item.payload, as, position);
  } catch (e) {
    if (e instanceof RecordError)
      return { position, rule: e.rule, message: e.message, issues: e.issues.length > 0 ? e.issues : undefined, bytes };
    if (e instanceof SyntaxError && item.kind === "line")
      return { position, rule: "json", message: `malformed JSON: ${e.message}`, bytes };
    throw e;
  }
}
function rawDamage(item: Extract<RawItem, { kind: "damage" }>, position: RecordPosition): ArchiveDamage {
  return { position, rule: item.rule, message: item.message, bytes: item.bytes };
}
