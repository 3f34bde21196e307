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
import { parsedLine, parseLine } from "./lines.js";
import type { RawItem } from "./raw-record.js";
import { openSource, type InputFormat, type OpenedSource } from "./source.js";
import type { JetStreamInput } from "./jetstream-source.js";
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
  /** For a JetStream input (INPUT is nats:// URLs): the family's stream to read, and how to connect. */
  readonly jetstream?: JetStreamInput;
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

/** What a fast path wrote: whole lines (export) or frames (import), and how many events they hold. */
export interface FastOutput {
  readonly bytes: Uint8Array;
  readonly count: number;
}

/**
 * A fast path (archive/transcode.ts for export, archive/json-encode.ts for
 * import): `record` (a LogEntry's bytes) or `line` (a JSON line, parsed)
 * writes the output of what it takes into its own buffer and counts it in
 * the tally, or returns false when it needs the reference path, which then
 * judges and reports it; `take` hands over what was written so far.
 */
export interface FastPath {
  /** The LogEntry at bytes[start..end); its log sequence as a number (NaN past 2^53), if it has one. */
  record?(bytes: Uint8Array, start: number, end: number, sequence: number | undefined, tally: SummaryBuilder): boolean;
  line?(value: unknown, tally: SummaryBuilder): boolean;
  take(): FastOutput;
  readonly pending: boolean;
}

export const isFastOutput = (item: ArchiveEvent | FastOutput): item is FastOutput => "count" in item;

/**
 * The events of an input in batches, one batch per chunk read (records are
 * handled synchronously inside it). With `fast` (and no filter), records it
 * takes come out as what it wrote (FastOutput) instead of events.
 */
export async function* readEventBatches(
  input: string,
  options: ReadOptions,
  pass: Pass,
  fast?: FastPath,
): AsyncGenerator<(ArchiveEvent | FastOutput)[]> {
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
  const source = await openSource(input, options.format ?? "auto", onBytes, options.jetstream);
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
  fast: FastPath | undefined,
): AsyncGenerator<(ArchiveEvent | FastOutput)[]> {
  if (options.message && options.message !== "LogEntry" && source.format !== "delimited") {
    throw new SessionEventsError(
      `message ${options.message}: only length-delimited input holds bare messages, and this input is read as ${source.format}`,
      { code: "INVALID_ARGUMENT" },
    );
  }
  const as: RecordMessage = source.format === "delimited" ? (options.message ?? "LogEntry") : "LogEntry";
  const fastRecords = as === "LogEntry" && fast?.record ? fast : undefined;
  const fastLines = fast?.line ? fast : undefined;
  for await (const part of source.parts) {
    let index = 0;
    for await (const batch of part.items) {
      let out: (ArchiveEvent | FastOutput)[] = [];
      let fastCount = 0; // records the fast path holds, not yet in `out`
      const takeOut = () => {
        if (fast?.pending) out.push(fast.take());
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
        let parsed: unknown = UNPARSED;
        if (fastRecords && item.kind === "record") {
          const taken =
            item.chunk !== undefined
              ? fastRecords.record!(item.chunk, item.start!, item.end!, item.sequenceNumber, tally)
              : fastRecords.record!(item.payload, 0, item.payload.length, asNumber(item.sequence), tally);
          if (taken) {
            if (++fastCount >= MAX_BATCH) yield takeOut();
            continue;
          }
          if (fastRecords.pending) out.push(fastRecords.take()); // what it wrote comes before this record's output
        } else if (fastLines && item.kind === "line") {
          // Import numbers its frames on from the last one written, whichever path wrote it: events
          // waiting to be rendered (numbered) by the caller are handed out before the fast path numbers this one.
          if (out.length > 0 && !fastLines.pending) yield takeOut();
          parsed = parseJson(item.text); // once, for both paths
          if (parsed !== UNPARSED && fastLines.line!(parsed, tally)) {
            if (++fastCount >= MAX_BATCH) yield takeOut();
            continue;
          }
          if (fastLines.pending) out.push(fastLines.take());
        }
        const position: RecordPosition =
          item.kind === "line"
            ? { source: part.name, index, offset: item.offset, line: item.line }
            : { source: part.name, index, offset: item.offset, sequence: item.sequence };
        const event = decode(item, as, position, parsed);
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

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);
const asNumber = (n: bigint | undefined) => (n === undefined ? undefined : n <= MAX_EXACT ? Number(n) : NaN);

/** Not parsed (yet, or at all: not JSON). */
const UNPARSED = Symbol("unparsed");

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return UNPARSED; // the reference path parses it again, and reports why it is not JSON
  }
}

/** The record's event, or the damage that keeps it from being one. `parsed`: the line's JSON, if already parsed. */
function decode(
  item: Extract<RawItem, { kind: "record" | "line" }>,
  as: RecordMessage,
  position: RecordPosition,
  parsed: unknown = UNPARSED,
): ArchiveEvent | ArchiveDamage | undefined {
  const bytes = item.kind === "line" ? item.bytes : item.payload.length;
  try {
    if (item.kind === "record") return decodeRecord(item.payload, as, position);
    return parsed === UNPARSED ? parseLine(item.text, position) : parsedLine(parsed, position);
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
