/**
 * The three archive jobs, each one pass in constant memory:
 *
 *   exportArchive  log (or any input)  -> JSON Lines of contract JSON
 *   importArchive  JSON Lines (or any) -> protobuf records (a segment file, or length-delimited)
 *   verifyArchive  any input           -> a summary: counts, time span, damage
 *
 * Each returns the pass's summary. Under the "stop" damage policy a job
 * throws ArchiveDamageError at the first damage and removes its partial
 * output file; otherwise it reports each damaged record and goes on.
 */
import { ValidationError } from "../contract/errors.js";
import { encodeFrame, encodeSegmentHeader } from "../store/frame.js";
import { encodeRecord, type RecordMessage } from "./codec.js";
import { varintPrefix } from "./delimited-reader.js";
import type { ArchiveEvent } from "./event.js";
import { formatLine, type LineLayout } from "./lines.js";
import { readEvents, startPass, type Pass, type ReadOptions } from "./read.js";
import { openSink, type Sink } from "./sink.js";
import type { ArchiveSummary } from "./summary.js";

export interface WriteOptions extends ReadOptions {
  /** A file path (written whole, then renamed into place) or a stream such as process.stdout. */
  readonly output: string | NodeJS.WritableStream;
  /** gzip the output. */
  readonly gzip?: boolean;
}

/** Where and how exportArchive writes. */
export interface ExportOptions extends WriteOptions {
  /** "events" (default): each line is the contract JSON; "records": with the log entry's fields around it. */
  readonly layout?: LineLayout;
}

/** One of OUTPUT_FORMATS. */
export type OutputFormat = "segment" | "delimited";
/** The binary formats importArchive writes. */
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["segment", "delimited"];

/** Where and how importArchive writes. */
export interface ImportOptions extends WriteOptions {
  /**
   * "segment" (default): the collector's framing, with a CRC-32 and the log
   * sequence per record, holding LogEntry messages. "delimited": varint
   * length-prefixed messages of `outputMessage`.
   */
  readonly to?: OutputFormat;
  /** For "delimited": the message written. Default "LogEntry". */
  readonly outputMessage?: RecordMessage;
}

/**
 * Export an input's events as contract JSON Lines (optionally gzip'd), record by record; resolves with the summary.
 *
 * @example
 * ```ts
 * import { exportArchive } from "session-events/archive";
 * const summary = await exportArchive("./data", { output: "events.jsonl.gz", gzip: true });
 * ```
 */
export async function exportArchive(input: string, options: ExportOptions): Promise<ArchiveSummary> {
  const layout = options.layout ?? "events";
  return write(input, options, (event) => `${formatLine(event, layout)}\n`);
}

/** Import JSON Lines (or delimited messages) into a segment file or length-delimited protobuf, each event validated. */
export async function importArchive(input: string, options: ImportOptions): Promise<ArchiveSummary> {
  const to = options.to ?? "segment";
  const as: RecordMessage = to === "segment" ? "LogEntry" : (options.outputMessage ?? "LogEntry");
  let last = 0n;
  return write(input, options, async (event, pass) => {
    let payload: Uint8Array;
    try {
      payload = encodeRecord(event, as);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      await pass.report({ position: event.position, rule: "contract", message: `cannot be written as ${as}`, issues: e.issues });
      return undefined;
    }
    if (to === "delimited") return Buffer.concat([varintPrefix(payload.length), payload]);
    // The log's own sequences are kept; events without one are numbered on.
    const sequence = event.log?.sequence ?? last + 1n;
    if (sequence <= last) {
      await pass.report({ position: event.position, rule: "sequence", message: `log_sequence ${sequence} does not follow ${last}` });
      return undefined;
    }
    const first = last === 0n;
    last = sequence;
    // A segment starts with its header, which names its first record.
    return first ? Buffer.concat([encodeSegmentHeader(sequence), encodeFrame(sequence, payload)]) : encodeFrame(sequence, payload);
  });
}

/**
 * Read an input whole and count its events and damage, writing nothing.
 *
 * @example
 * ```ts
 * import { verifyArchive } from "session-events/archive";
 * const { damaged } = await verifyArchive("./data");
 * ```
 */
export async function verifyArchive(input: string, options: ReadOptions = {}): Promise<ArchiveSummary> {
  const pass = startPass({ ...options, onDamage: options.onDamage ?? (() => {}) }); // verify reports all damage by default
  for await (const _event of readEvents(input, options, pass)) {
    // Reading is the check: framing, checksums, decoding and the contract.
  }
  return pass.tally.finish();
}

async function write(
  input: string,
  options: WriteOptions,
  render: (event: ArchiveEvent, pass: Pass) => string | Uint8Array | undefined | Promise<Uint8Array | undefined>,
): Promise<ArchiveSummary> {
  const pass = startPass(options);
  const sink: Sink = openSink(options.output, { gzip: options.gzip });
  try {
    for await (const event of readEvents(input, options, pass)) {
      const data = await render(event, pass);
      if (data === undefined) continue;
      await sink.write(data);
      pass.tally.summary.written++;
    }
    await sink.finish();
  } catch (e) {
    await sink.abort();
    throw e;
  }
  return pass.tally.finish();
}
