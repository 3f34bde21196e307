/**
 * session-events archive export|import|verify: the archive jobs on the
 * command line. Damage is printed to stderr as it is found, a one-line
 * result at the end; a progress line is drawn only when stderr is a terminal.
 *
 * Exit codes: 0 clean; 1 damage found (verify) or the job stopped at damage
 * or an error; 2 usage; 3 the job finished but skipped damaged records.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ValidationError } from "../contract/errors.js";
import { ArchiveDamageError, describeDamage, type ArchiveDamage, type DamagePolicy } from "../archive/damage.js";
import { ARCHIVE_FAMILIES, type ArchiveFamily } from "../archive/event.js";
import type { EventFilter } from "../archive/filter.js";
import { exportArchive, importArchive, verifyArchive, OUTPUT_FORMATS, type OutputFormat } from "../archive/jobs.js";
import { LINE_LAYOUTS, type LineLayout } from "../archive/lines.js";
import { RECORD_MESSAGES, type RecordMessage } from "../archive/codec.js";
import { ProgressBar } from "../archive/progress.js";
import type { ReadOptions } from "../archive/read.js";
import { INPUT_FORMATS, isNatsInput, type InputFormat } from "../archive/source.js";
import type { JetStreamInput } from "../archive/jetstream-source.js";
import { renderSummary, summaryToJson, type ArchiveSummary } from "../archive/summary.js";
import { OutputClosedError, openSink, type Sink } from "../archive/sink.js";
import { aliased } from "./flags.js";
import { natsAccess, natsServerList, optionReader } from "./nats-flags.js";
import { NATS_ACCESS_OPTIONS } from "./serve-config.js";
import { UsageError } from "./usage-error.js";

export const EXIT_DAMAGE = 1;
export const EXIT_SKIPPED = 3;

const INPUT_OPTIONS = {
  "input-format": { type: "string" },
  format: { type: "string" }, // the older name of --input-format (--format is an output format elsewhere)
  message: { type: "string" },
  "on-damage": { type: "string" },
  "no-progress": { type: "boolean" },
} as const satisfies ParseArgsConfig["options"];

const inputHelp = `input:   INPUT is a collector data directory, a segment file (.seg), a file of
         length-delimited protobufs, or JSON Lines; gzip'ed or not; "-" is stdin.
         --input-format auto|log|segment|delimited|jsonl   [auto: by name, else
                   by content] (older name: --format)
         --message LogEntry|SessionStartEvent|SessionEndEvent|VrpEvent
                   what each delimited record holds [LogEntry]
damage:  --on-damage stop|skip   stop at the first damaged record, or report
         each one (stderr) and go on
         --no-progress           no progress line even on a terminal
exit:    0 clean, 1 damage (or stopped at it), 2 usage, 3 finished but skipped damaged records`;

export const exportUsage = `session-events archive export INPUT [-o FILE] [--layout events|records] [--gzip]
       [--family session|vrp] [--type T] [--since T] [--until T] [input and damage options]
session-events archive export nats://HOST:PORT[,nats://HOST:PORT...] --family session|vrp
       [--nats-prefix P] [--nats-creds F | --nats-token-file F] [--nats-tls-ca F] [-o FILE] ...

Write JSON Lines, one validated contract event a line, to FILE (written whole,
then renamed into place) or, without -o or with "-o -", to stdout.
From JetStream (serve --engine jetstream's log): the stream of one --family is
read whole, read-only (a missing stream is an error, never created); the
lines are those a data directory of the same records gives. The NATS flags
and their environment variables (SESSION_EVENTS_NATS_PREFIX, ...) are serve's.
  --layout events    each line is the event's contract JSON [default]
  --layout records   each line is the log entry: log_sequence, received_at,
                     entry, session_id / producer_id / cause_sequence, event
  --gzip             gzip the output (also chosen by a FILE ending in .gz)
  --family, --type   keep these (repeat, or comma-separate); a type is a contract
                     name (VrpEvent) or an event_type (session_start, PATH_SELECTED)
  --since, --until   keep events whose own time is in [since, until) (RFC 3339)
${inputHelp}
         default --on-damage: stop (the partial FILE is removed)`;

export const importUsage = `session-events archive import INPUT -o FILE [--to segment|delimited]
       [--output-message M] [--gzip] [input and damage options]

Turn JSON Lines (either layout) into protobuf records. FILE "-" is stdout.
  --to segment       the collector's framing (length, CRC-32, sequence) of
                     LogEntry messages: what archive verify and export read [default]
  --to delimited     varint length-prefixed messages of --output-message [LogEntry]
${inputHelp}
         default --on-damage: stop (the partial FILE is removed)`;

export const verifyUsage = `session-events archive verify INPUT [--json] [input and damage options]

Check every record: framing, checksum, log sequence, decoding and the contract.
Print a summary (counts by type, first and last event time, damaged records
and where they are); --json prints it as JSON.
${inputHelp}
         default --on-damage: skip (report every damaged record)`;

export async function archiveExport(
  args: string[],
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
): Promise<number> {
  const { values, input } = parse(args, {
    output: { type: "string", short: "o" },
    layout: { type: "string" },
    gzip: { type: "boolean" },
    family: { type: "string", multiple: true },
    type: { type: "string", multiple: true },
    since: { type: "string" },
    until: { type: "string" },
    ...NATS_FLAGS,
  });
  const output = optionalString(values.output) ?? "-";
  const layout = oneOf<LineLayout>("--layout", values.layout, LINE_LAYOUTS) ?? "events";
  const families = list(values.family, "--family")?.map((f) => oneOf<ArchiveFamily>("--family", f, ARCHIVE_FAMILIES)!);
  const jetstream = jetStreamInput(input, values, families);
  const filter: EventFilter = {
    families: jetstream ? undefined : families, // from JetStream, the family is the stream read
    types: list(values.type),
    since: optionalString(values.since),
    until: optionalString(values.until),
  };
  const job = jobRunner("export", values, stderr, "stop", { linesOn: output === "-" ? stdout : undefined });
  return job.run(() =>
    exportArchive(input, {
      ...job.readOptions,
      jetstream,
      filter,
      layout,
      output: output === "-" ? stdout : output,
      gzip: Boolean(values.gzip) || /\.gz$/i.test(output),
    }),
  );
}

export async function archiveImport(
  args: string[],
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
): Promise<number> {
  const { values, input } = parse(args, {
    output: { type: "string", short: "o" },
    to: { type: "string" },
    "output-message": { type: "string" },
    gzip: { type: "boolean" },
  });
  const output = optionalString(values.output);
  if (output === undefined) throw new UsageError("-o: is required (a FILE, or - for stdout)");
  const to = oneOf<OutputFormat>("--to", values.to, OUTPUT_FORMATS) ?? "segment";
  const outputMessage = oneOf<RecordMessage>("--output-message", values["output-message"], RECORD_MESSAGES);
  if (outputMessage && to !== "delimited")
    throw new UsageError("--output-message: only with --to delimited (a segment holds LogEntry messages)");
  const job = jobRunner("import", values, stderr, "stop", { linesOn: output === "-" ? stdout : undefined });
  return job.run(() =>
    importArchive(input, {
      ...job.readOptions,
      to,
      outputMessage,
      output: output === "-" ? stdout : output,
      gzip: Boolean(values.gzip) || /\.gz$/i.test(output),
    }),
  );
}

export async function archiveVerify(
  args: string[],
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
): Promise<number> {
  const { values, input } = parse(args, { json: { type: "boolean" } });
  // As text, each damaged record is listed on stdout as it is found (all of
  // them, however many); as JSON, the summary lists the first ones.
  const out = openSink(stdout, { batchBytes: 0 });
  const job = jobRunner("verify", values, stderr, "skip", {
    resultLine: false,
    damageTo: values.json ? undefined : out,
  });
  let summary: ArchiveSummary | undefined;
  const code = await job.run(async () => {
    summary = await verifyArchive(input, job.readOptions);
    await out.write(values.json ? `${summaryToJson(summary)}\n` : renderSummary(summary, false));
    await out.finish();
    return summary;
  });
  return code === EXIT_SKIPPED ? EXIT_DAMAGE : code; // for verify, any damage is a failure
}

const NATS_FLAGS = {
  "nats-prefix": { type: "string" },
  "nats-creds": { type: "string" },
  "nats-token-file": { type: "string" },
  "nats-tls-ca": { type: "string" },
} as const satisfies ParseArgsConfig["options"];

/** The JetStream stream of each --family (the engine names the session family's stream "sessions"). */
const STREAM_FAMILY: Readonly<Record<ArchiveFamily, JetStreamInput["family"]>> = { session: "sessions", vrp: "vrp" };

/**
 * For a nats:// INPUT: the stream of exactly one family, and how to reach it,
 * from the flags and environment variables `serve --engine jetstream` reads.
 * The NATS flags are refused with any other INPUT.
 */
function jetStreamInput(
  input: string,
  values: Values,
  families: readonly ArchiveFamily[] | undefined,
): JetStreamInput | undefined {
  if (!isNatsInput(input)) {
    const given = Object.keys(NATS_FLAGS).find((flag) => values[flag] !== undefined);
    if (given) throw new UsageError(`--${given}: only with a nats:// INPUT (a JetStream log)`);
    return undefined;
  }
  natsServerList(input, "INPUT");
  if (families?.length !== 1)
    throw new UsageError(
      "--family: a JetStream INPUT needs exactly one, session or vrp (each family is a stream of its own)",
    );
  const access = natsAccess(optionReader(values, process.env), NATS_ACCESS_OPTIONS);
  return {
    family: STREAM_FAMILY[families[0]!],
    prefix: access.prefix,
    creds: access.creds,
    token: access.token,
    tlsCa: access.tlsCa,
  };
}

const FILTER_FLAGS: Record<string, string> = {
  "/families": "--family",
  "/types": "--type",
  "/since": "--since",
  "/until": "--until",
};

type Values = Record<string, string | boolean | string[] | undefined>;

function parse(args: string[], options: ParseArgsConfig["options"]): { values: Values; input: string } {
  const { values, positionals } = parseArgs({
    args,
    options: { ...INPUT_OPTIONS, ...options },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError(`expected one INPUT, got ${positionals.length}`);
  return { values: values as Values, input: positionals[0]! };
}

interface ReportingOptions {
  /** Print "NAME: N events written ..." at the end (export, import). */
  readonly resultLine?: boolean;
  /** Where damage lines go under skip (default stderr; none: only the summary lists them). */
  readonly damageTo?: Sink;
  /** The job writes its lines to this stream: no progress line if it is the same terminal. */
  readonly linesOn?: NodeJS.WritableStream;
}

const isTty = (stream: NodeJS.WritableStream | undefined) =>
  (stream as { isTTY?: boolean } | undefined)?.isTTY === true;

/** Reading options from the flags, and the job's reporting: damage lines, progress, the result line. */
function jobRunner(
  name: string,
  values: Values,
  stderr: NodeJS.WritableStream,
  defaultPolicy: "stop" | "skip",
  reporting: ReportingOptions = {},
) {
  const policyName = oneOf<"stop" | "skip">("--on-damage", values["on-damage"], ["stop", "skip"]) ?? defaultPolicy;
  const progress =
    isTty(stderr) && !isTty(reporting.linesOn) && !values["no-progress"] ? new ProgressBar(stderr, name) : undefined;
  const errors = openSink(stderr, { batchBytes: 0 });
  const damageTo = "damageTo" in reporting ? reporting.damageTo : errors;
  // Waiting for each line to be taken keeps memory flat however many records are damaged.
  const printDamage = async (damage: ArchiveDamage) => {
    progress?.clear();
    await damageTo?.write(`${damageTo === errors ? `${name}: ` : ""}damaged: ${describeDamage(damage)}\n`);
  };
  const onDamage: DamagePolicy = policyName === "stop" ? "stop" : printDamage;
  const readOptions: ReadOptions = {
    format: oneOf<InputFormat>(
      values["input-format"] !== undefined ? "--input-format" : "--format",
      aliased(values, "input-format", "format"),
      INPUT_FORMATS,
    ),
    message: oneOf<RecordMessage>("--message", values.message, RECORD_MESSAGES),
    onDamage,
    onProgress: progress && ((p) => progress.update(p)),
  };
  return {
    readOptions,
    async run(job: () => Promise<ArchiveSummary>): Promise<number> {
      try {
        const summary = await job();
        progress?.clear();
        if (reporting.resultLine ?? true) {
          const filtered = summary.filteredOut ? `, ${summary.filteredOut} left out by filters` : "";
          stderr.write(
            `${name}: ${summary.written} events written from ${summary.records} records${filtered}, ${summary.damaged} damaged\n`,
          );
          if (summary.written === 0 && values.type)
            stderr.write(
              `${name}: warning: no event matched --type ${list(values.type)!.join(",")} (a type is a contract name or an event_type)\n`,
            );
        }
        return summary.damaged > 0 ? EXIT_SKIPPED : 0;
      } catch (e) {
        progress?.clear();
        // The reader of our output went away (| head): what it wanted, it has;
        // but a verify cut short has not shown the input clean.
        if (e instanceof OutputClosedError) return name === "verify" ? EXIT_DAMAGE : 0;
        if (e instanceof ArchiveDamageError) {
          stderr.write(
            `${name}: stopped at damage (--on-damage skip reports it and goes on):\n  ${e.message.replace(/\n/g, "\n  ")}\n`,
          );
          return EXIT_DAMAGE;
        }
        if (e instanceof ValidationError && e.subject === "EventFilter") {
          throw new UsageError(e.issues.map((i) => `${FILTER_FLAGS[i.path] ?? i.path}: ${i.message}`).join("; "));
        }
        throw e;
      }
    },
  };
}

function optionalString(value: Values[string]): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function oneOf<T extends string>(flag: string, value: Values[string], allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !allowed.includes(value as T)) {
    throw new UsageError(`${flag}: must be one of ${allowed.join(", ")} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

/** Repeated and comma-separated values, as one list (an empty one is a mistake, not "no filter"). */
function list(value: Values[string], flag = "--type"): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const items = value.flatMap((v) => v.split(",")).map((v) => v.trim());
  if (items.some((v) => v === ""))
    throw new UsageError(`${flag}: must not be empty (got ${JSON.stringify(value.join(","))})`);
  return items;
}
