/**
 * session-events vrp send [FILE|-]: a producer's JSON Lines into a
 * collector, through VrpProducer, resumably.
 *
 * Numbering: the file's events are numbered 1..N in file order; blank lines
 * and lines the map skips get no number. Every other line is an event, and
 * the N-th is always producer_sequence N, whatever becomes of it: a line
 * refused here (not JSON, not the contract) has its number consumed at the
 * collector too (VrpProducer.withhold), so the numbering never depends on
 * what was valid, and a re-run with --lenient or a fixed map cannot shift
 * later events onto numbers the collector has judged. A re-run with the same
 * --producer-id learns from the handshake the last number judged and sends
 * only the events after it.
 *
 * Exit codes: 0 every event accepted (or valid, --dry-run); 3 some refused;
 * 1 an error (the collector unreachable, the stream lost); 2 usage.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { parseArgs } from "node:util";
import { describeError, ValidationError, type ValidationIssue } from "../contract/errors.js";
import { ProgressBar } from "../archive/progress.js";
import { readLines } from "../archive/line-reader.js";
import { ByteWindow } from "../store/byte-window.js";
import { VrpProducer, VrpRejectedError } from "../client/vrp.js";
import {
  describeLineIssues,
  loadVrpDialectMap,
  mapVrpLine,
  type VrpDialectMap,
  type VrpLineResult,
} from "../vrp/dialect.js";
import { CONNECTION_OPTIONS, connection, connectionHelp } from "./client-commands.js";
import { UsageError } from "./usage-error.js";
import { SessionEventsError } from "../errors.js";

export const EXIT_REFUSED = 3;
/** Refusals listed one by one in the summary; the rest are counted. */
export const MAX_LISTED_REFUSALS = 1000;
/** Events awaiting their answer at once (the producer's window). */
const WINDOW = 256;

export const vrpSendUsage = `session-events vrp send [FILE|-] --producer-id ID [--map FILE] [--lenient] [--dry-run] [--json] [--no-progress]

Send VRP events, one JSON object a line, from FILE (or standard input) to a
collector's StreamEvents, and print a summary: accepted, refused (line and
reason), already judged (on a re-run), lines skipped, keys moved, and the STATE_CHANGE /
AUDIT_EVENT answers counted by reason code.

  --producer-id ID  required (except with --dry-run). The file's events are
                    numbered 1..N in file order (blank and skipped lines get no
                    number); a re-run with the same ID sends only the events the
                    collector has not judged yet. Keep the file and --map the
                    same between runs of one ID.
  --map FILE        a dialect map, JSON or YAML: how this producer's lines
                    become envelopes (see docs/vrp-dialects/)
  --lenient         move top-level keys the envelope does not name under
                    details (the summary lists them, per key)
  --dry-run         check every line against the contract; no collector
  --json            the summary as JSON (stdout); either lists the first
                    ${MAX_LISTED_REFUSALS} refusals and counts the rest
  --no-progress     no progress line, even on a terminal
${connectionHelp}
            --deadline-ms here: how long to wait for the collector's first answer
exit:    0 every event accepted, 3 some refused, 1 an error, 2 usage`;

interface Refusal {
  readonly line: number;
  /** The event's number (producer_sequence). */
  readonly event: number;
  /** Who refused it: this sender (the line is not a valid event) or the collector. */
  readonly by: "sender" | "collector";
  /** Judged in an earlier run with this producer id (not sent again). */
  readonly earlier: boolean;
  readonly reason: string;
  readonly issues?: readonly ValidationIssue[];
}

class Tally {
  lines = 0;
  events = 0;
  passed = 0; // accepted by the collector, or valid (dry run)
  alreadyJudged = 0;
  refused = 0;
  readonly refusals: Refusal[] = [];
  readonly skipped = { blank: 0, prefix: 0 };
  readonly moved = new Map<string, number>();
  readonly derived = new Map<string, Map<string, number>>();

  refuse(refusal: Refusal): void {
    this.refused++;
    if (this.refusals.length < MAX_LISTED_REFUSALS) this.refusals.push(refusal);
  }
}

interface Run {
  readonly input: string;
  readonly dryRun: boolean;
  readonly producerId: string | undefined;
  readonly target: string | undefined;
  readonly map: string | undefined;
  readonly lenient: boolean;
  lastJudged: bigint;
}

export async function vrpSend(
  args: string[],
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...CONNECTION_OPTIONS,
      "producer-id": { type: "string" },
      map: { type: "string" },
      lenient: { type: "boolean" },
      "dry-run": { type: "boolean" },
      json: { type: "boolean" },
      "no-progress": { type: "boolean" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 1)
    throw new UsageError(`expected one FILE (or - for standard input), got ${positionals.length}`);
  const input = positionals[0] ?? "-";
  const dryRun = values["dry-run"] === true;
  const producerId = values["producer-id"];
  if (producerId === "") throw new UsageError("--producer-id: must not be empty");
  if (!dryRun && producerId === undefined) {
    throw new UsageError(
      "--producer-id: is required (the same id on a re-run sends only what the collector has not judged; --dry-run needs none)",
    );
  }
  const conn = connection(values as Record<string, string | undefined>);
  const map = await dialect(values.map, values.lenient === true);
  const totalBytes = await inputSize(input);

  const run: Run = {
    input,
    dryRun,
    producerId,
    target: dryRun ? undefined : conn.target,
    map: values.map,
    lenient: values.lenient === true,
    lastJudged: 0n,
  };
  const tally = new Tally();
  const isTty = (stderr as { isTTY?: boolean }).isTTY === true;
  const progress =
    isTty && !values["no-progress"] ? new ProgressBar(stderr, dryRun ? "vrp send --dry-run" : "vrp send") : undefined;

  let producer: VrpProducer | undefined;
  let derivedRead: Promise<void> = Promise.resolve();
  if (!dryRun) {
    producer = new VrpProducer({ target: conn.target, token: conn.token, tls: conn.tls, producerId, window: WINDOW });
    derivedRead = countDerived(producer, tally);
    run.lastJudged = await handshake(producer, conn.target, conn.deadlineMs);
  }

  let bytes = 0;
  let failure: Error | undefined;
  let inflight = 0;
  let wake: (() => void) | undefined;
  const settled = () => {
    inflight--;
    wake?.();
  };
  const waitUntil = async (ok: () => boolean) => {
    while (!ok()) await new Promise<void>((r) => (wake = r));
  };
  const fail = (e: unknown) => (failure ??= e instanceof Error ? e : new Error(describeError(e)));

  const window = new ByteWindow(chunks(input, (n) => (bytes += n)));
  try {
    let number = 0n;
    for await (const item of readLines(window, { blankLines: true })) {
      if (item.kind !== "line" && item.kind !== "damage") continue;
      tally.lines = item.line ?? tally.lines;
      const result: VrpLineResult =
        item.kind === "line"
          ? mapVrpLine(item.text, map)
          : {
              kind: "refused",
              issues: [
                {
                  path: "",
                  rule: item.message.startsWith("not UTF-8") ? "utf8" : "line_length",
                  message: item.message,
                },
              ],
            };
      if (result.kind === "skip") {
        tally.skipped[result.reason]++;
        continue;
      }
      const seq = ++number;
      const line = tally.lines;
      tally.events++;
      if (result.kind === "event")
        for (const key of result.moved) tally.moved.set(key, (tally.moved.get(key) ?? 0) + 1);
      progress?.update({ bytes, totalBytes, events: tally.events });

      if (seq <= run.lastJudged) {
        // Judged in an earlier run: not sent again. A line refused here was refused then too; one
        // valid here was stored then, unless the collector refused it (which only that run could tell).
        if (result.kind === "refused") tally.refuse(senderRefusal(line, seq, result.issues, true));
        else tally.alreadyJudged++;
        continue;
      }
      if (result.kind === "refused") {
        tally.refuse(senderRefusal(line, seq, result.issues, false));
        if (!producer) continue;
        await waitUntil(() => inflight < WINDOW);
        inflight++;
        producer
          .withhold()
          .then(
            (n) =>
              n === seq ||
              fail(new Error(`internal error: line ${line} is event ${seq}, but its number went out as ${n}`)),
            fail,
          )
          .finally(settled);
      } else if (!producer) {
        tally.passed++;
      } else {
        await waitUntil(() => inflight < WINDOW);
        inflight++;
        producer
          .send(result.event)
          .then(
            (ack) => {
              if (ack.producerSequence !== seq)
                fail(
                  new Error(`internal error: line ${line} is event ${seq}, but it went out as ${ack.producerSequence}`),
                );
              tally.passed++;
            },
            (e: unknown) => {
              if (!(e instanceof VrpRejectedError)) return fail(e);
              tally.refuse({
                line,
                event: Number(seq),
                by: "collector",
                earlier: false,
                reason: e.message.replace(/\s*\n\s*/g, " "),
              });
            },
          )
          .finally(settled);
      }
      if (failure) break;
    }
  } catch (e) {
    fail(e);
  } finally {
    await window.close();
    await waitUntil(() => inflight === 0);
    progress?.clear();
    if (producer) {
      await producer.close();
      await derivedRead;
    }
  }

  if (!failure && !dryRun && run.lastJudged > BigInt(tally.events)) {
    failure = new Error(
      `the collector has judged ${run.lastJudged} events from producer ${JSON.stringify(producerId)}, but ${input === "-" ? "the input" : input} holds only ${tally.events}: ` +
        "not the input (or the --map) this producer id sent before",
    );
  }
  tally.refusals.sort((a, b) => a.line - b.line);
  stdout.write(values.json ? `${JSON.stringify(summaryJson(run, tally))}\n` : renderSummary(run, tally));
  if (failure) throw failure; // after the summary: what was sent before it stays counted
  return tally.refused > 0 ? EXIT_REFUSED : 0;
}

function senderRefusal(line: number, seq: bigint, issues: readonly ValidationIssue[], earlier: boolean): Refusal {
  return { line, event: Number(seq), by: "sender", earlier, reason: describeLineIssues(issues), issues };
}

/** The map from --map and --lenient; a bad map is a usage error naming the field and rule. */
async function dialect(file: string | undefined, lenient: boolean): Promise<VrpDialectMap> {
  let map: VrpDialectMap = {};
  if (file !== undefined) {
    try {
      map = await loadVrpDialectMap(file);
    } catch (e) {
      // Ours first: a SessionEventsError has a `code` too (a status name, not an errno).
      if (e instanceof ValidationError) throw new UsageError(`--map: ${e.message}`);
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof code === "string" && !(e instanceof SessionEventsError))
        throw new UsageError(`--map: cannot read ${JSON.stringify(file)} (${code})`);
      throw e;
    }
  }
  return lenient ? { ...map, unknown_keys: "details" } : map;
}

async function inputSize(input: string): Promise<number | undefined> {
  if (input === "-") return undefined;
  try {
    const s = await stat(input);
    if (s.isDirectory())
      throw new SessionEventsError(`${input} is a directory (vrp send reads one JSON Lines file)`, {
        code: "INVALID_ARGUMENT",
      });
    return s.isFile() ? s.size : undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new SessionEventsError(`${input}: no such file or directory`, { code: "NOT_FOUND", cause: e });
    throw e;
  }
}

async function* chunks(input: string, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  const stream: AsyncIterable<Buffer> =
    input === "-" ? process.stdin : createReadStream(input, { highWaterMark: 1 << 20 });
  for await (const chunk of stream) {
    onBytes(chunk.length);
    yield chunk;
  }
}

/** The collector's first answer, or an error naming the target; the producer is closed on failure. */
async function handshake(producer: VrpProducer, target: string, deadlineMs: number): Promise<bigint> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new SessionEventsError(`no answer within ${deadlineMs} ms (--deadline-ms)`, { code: "DEADLINE_EXCEEDED" }),
        ),
      deadlineMs,
    );
  });
  try {
    return await Promise.race([producer.handshake(), late]);
  } catch (e) {
    await producer.close();
    throw new SessionEventsError(`no stream to the collector at ${target}: ${describeError(e)}`, {
      code: "UNAVAILABLE",
      cause: e,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** The STATE_CHANGE / AUDIT_EVENT answers, by event type and reason code, until the producer closes. */
async function countDerived(producer: VrpProducer, tally: Tally): Promise<void> {
  for await (const event of producer.derived()) {
    let byReason = tally.derived.get(event.event_type);
    if (!byReason) tally.derived.set(event.event_type, (byReason = new Map()));
    const reason = event.reason_code ?? "(none)";
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }
}

// --- the summary --------------------------------------------------------------

function summaryJson(run: Run, t: Tally): object {
  return {
    input: run.input,
    dry_run: run.dryRun,
    ...(run.dryRun
      ? {}
      : { target: run.target, producer_id: run.producerId, collector_last_producer_sequence: Number(run.lastJudged) }),
    map: run.map ?? null,
    lenient: run.lenient,
    lines: t.lines,
    events: t.events,
    [run.dryRun ? "valid" : "accepted"]: t.passed,
    refused: t.refused,
    ...(run.dryRun ? {} : { already_judged: t.alreadyJudged }),
    refusals: t.refusals.map((r) => ({
      line: r.line,
      event: r.event,
      by: r.by,
      ...(r.earlier ? { earlier_run: true } : {}),
      reason: r.reason,
      ...(r.issues ? { issues: r.issues } : {}),
    })),
    refusals_not_listed: t.refused - t.refusals.length,
    skipped: { blank: t.skipped.blank, prefix: t.skipped.prefix },
    moved_to_details: Object.fromEntries(t.moved),
    ...(run.dryRun
      ? {}
      : { derived: Object.fromEntries([...t.derived].map(([type, reasons]) => [type, Object.fromEntries(reasons)])) }),
  };
}

function renderSummary(run: Run, t: Tally): string {
  const out: string[] = [];
  const from = run.input === "-" ? "standard input" : run.input;
  out.push(
    run.dryRun
      ? `vrp send --dry-run: ${from}${run.map ? ` (map ${run.map})` : ""}: nothing sent`
      : `vrp send: ${from} -> ${run.target} as producer ${run.producerId}${run.map ? ` (map ${run.map})` : ""}`,
  );
  const row = (label: string, value: string | number) => out.push(`  ${label.padEnd(17)} ${value}`);
  row("lines", t.lines);
  row("events", t.events);
  row(run.dryRun ? "valid" : "accepted", t.passed);
  row("refused", t.refused);
  for (const r of t.refusals) {
    const how = [
      `event ${r.event}`,
      r.by === "collector" ? "by the collector" : "",
      r.earlier ? "judged in an earlier run" : "",
    ]
      .filter(Boolean)
      .join(", ");
    out.push(`    line ${r.line} (${how}): ${r.reason}`);
  }
  if (t.refused > t.refusals.length) out.push(`    ... and ${t.refused - t.refusals.length} more`);
  if (!run.dryRun)
    row(
      "already judged",
      `${t.alreadyJudged}${t.alreadyJudged > 0 ? " (by the collector, in an earlier run with this producer id: stored, or refused then; not sent again)" : ""}`,
    );
  const skipped = t.skipped.blank + t.skipped.prefix;
  const why = [
    t.skipped.blank ? `${t.skipped.blank} blank` : "",
    t.skipped.prefix ? `${t.skipped.prefix} by skip_lines_starting_with` : "",
  ].filter(Boolean);
  row("skipped lines", `${skipped}${skipped > 0 ? ` (${why.join(", ")})` : ""}`);
  if (t.moved.size > 0) {
    row(
      run.lenient ? "moved to details (--lenient)" : "moved to details",
      [...t.moved].map(([key, n]) => `${key} (${n} ${n === 1 ? "line" : "lines"})`).join(", "),
    );
  }
  if (!run.dryRun) {
    const derived = [...t.derived].map(([type, reasons]) => {
      const total = [...reasons.values()].reduce((a, b) => a + b, 0);
      return `${type} ${total} (${[...reasons].map(([reason, n]) => `${reason} ${n}`).join(", ")})`;
    });
    row("derived", derived.length > 0 ? derived.join("; ") : "none");
  }
  if (!run.lenient && t.refusals.some((r) => r.issues?.some((i) => i.rule === "additionalProperties"))) {
    out.push(
      'hint: --lenient (or "unknown_keys": "details" in a map) moves top-level keys the envelope does not name under details',
    );
  }
  return `${out.join("\n")}\n`;
}
