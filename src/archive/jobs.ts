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
import { isFastOutput, readEventBatches, startPass, type FastPath, type Pass, type ReadOptions } from "./read.js";
import { joinParts, openSink, type Sink } from "./sink.js";
import { transcoderFor } from "./transcode.js";
import { segmentEncoder, type SegmentSequencer } from "./json-encode.js";
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
  return write(input, options, (event) => `${formatLine(event, layout)}\n`, transcoderFor(layout));
}

/** Import JSON Lines (or delimited messages) into a segment file or length-delimited protobuf, each event validated. */
export async function importArchive(input: string, options: ImportOptions): Promise<ArchiveSummary> {
  const to = options.to ?? "segment";
  const as: RecordMessage = to === "segment" ? "LogEntry" : (options.outputMessage ?? "LogEntry");
  // Numbered on by both paths: the fast path's frames and the reference path's interleave.
  const sequencer: SegmentSequencer = { last: 0n };
  const render = (event: ArchiveEvent, pass: Pass): Rendered | Promise<Rendered> => {
    let payload: Uint8Array;
    try {
      payload = encodeRecord(event, as);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      return pass
        .report({ position: event.position, rule: "contract", message: `cannot be written as ${as}`, issues: e.issues })
        .then(() => undefined);
    }
    if (to === "delimited") return Buffer.concat([varintPrefix(payload.length), payload]);
    // The log's own sequences are kept; events without one are numbered on.
    const last = BigInt(sequencer.last);
    const sequence = event.log?.sequence ?? last + 1n;
    if (sequence <= last) {
      return pass
        .report({
          position: event.position,
          rule: "sequence",
          message: `log_sequence ${sequence} does not follow ${last}`,
        })
        .then(() => undefined);
    }
    const first = last === 0n;
    sequencer.last = sequence;
    // A segment starts with its header, which names its first record.
    return first
      ? Buffer.concat([encodeSegmentHeader(sequence), encodeFrame(sequence, payload)])
      : encodeFrame(sequence, payload);
  };
  return write(input, options, render, to === "segment" ? segmentEncoder(sequencer) : undefined);
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
  // Reading is the check: framing, checksums, decoding and the contract (the
  // transcoder judges a record as the reference path does; what it writes is dropped).
  for await (const _batch of readEventBatches(input, options, pass, transcoderFor("events"))) {
    // nothing to keep
  }
  return pass.tally.finish();
}

type Rendered = string | Uint8Array | undefined;

/**
 * The job's loop: one batch of events per chunk read, rendered
 * synchronously (a render returns a promise only when it reports damage),
 * and handed to the sink as one write.
 */
async function write(
  input: string,
  options: WriteOptions,
  render: (event: ArchiveEvent, pass: Pass) => Rendered | Promise<Rendered>,
  fast?: FastPath,
): Promise<ArchiveSummary> {
  const pass = startPass(options);
  const sink: Sink = openSink(options.output, { gzip: options.gzip });
  try {
    for await (const batch of readEventBatches(input, options, pass, fast)) {
      let parts: (string | Uint8Array)[] = [];
      let events = 0;
      const flush = async () => {
        if (parts.length === 0) return;
        pass.tally.summary.written += events;
        events = 0;
        const data = joinParts(parts);
        parts = [];
        await sink.write(data);
      };
      for (const item of batch) {
        if (isFastOutput(item)) {
          parts.push(item.bytes);
          events += item.count;
          continue;
        }
        let data = render(item, pass);
        if (data instanceof Promise) {
          await flush(); // what came before the damage is written before it is reported (under "stop" it throws)
          data = await data;
        }
        if (data === undefined) continue;
        parts.push(data);
        events++;
      }
      await flush();
    }
    await sink.finish();
  } catch (e) {
    await sink.abort();
    throw e;
  }
  return pass.tally.finish();
}
