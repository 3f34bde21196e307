/**
 * Opening an input: a collector data directory, a segment file, a file of
 * length-delimited protobufs, or JSON Lines; any file may be gzip'ed, and "-"
 * is standard input. The format is told by the caller, else by the name, else
 * by the first bytes. What comes out is raw items (records, lines, damage)
 * per part (a data directory's segments, in order).
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { SEGMENT_MAGIC } from "../store/frame.js";
import type { FrameReadEnd } from "../store/frame-reader.js";
import { listSegments, loadRepairedGaps, readSegmentStream, type SegmentFile } from "../store/segment-file.js";
import { ByteWindow } from "../store/byte-window.js";
import { gunzipMembers, looksLikeGzip, type GzipDamage } from "./gunzip.js";
import { readDelimited } from "./delimited-reader.js";
import { readLineBatches } from "./line-reader.js";
import type { RawItem } from "./raw-record.js";
import type { JetStreamInput } from "./jetstream-source.js";
import { SessionEventsError } from "../errors.js";

/** One of INPUT_FORMATS. */
export type InputFormat = "auto" | "log" | "segment" | "delimited" | "jsonl";
/** The input formats readArchive knows ("auto" sniffs). */
export const INPUT_FORMATS: readonly InputFormat[] = ["auto", "log", "segment", "delimited", "jsonl"];

export interface SourcePart {
  /** The file the items come from ("-" for standard input). */
  readonly name: string;
  /** In batches: what one read of the input held (one await per chunk, not per record). */
  readonly items: AsyncIterable<RawItem[]>;
}

export interface OpenedSource {
  /** The format read (never "auto"). */
  readonly format: Exclude<InputFormat, "auto">;
  /** Bytes the input holds on disk, when known (for progress). */
  readonly totalBytes: number | undefined;
  readonly parts: AsyncIterable<SourcePart>;
  /** Close what is still open (the parts close their files as they finish, or when iteration stops). */
  close(): Promise<void>;
}

/** INPUT names NATS servers (a JetStream log), not a file. */
export const isNatsInput = (input: string) => /^(nats|tls):\/\//i.test(input);

const READ_CHUNK = 1 << 20;
/** How far into a stream the sniffer looks for a good frame. */
const SNIFF_BYTES = 64 * 1024;

/** The input's bytes (as stored, before gunzip) are reported to `onBytes` as they are read. */
export async function openSource(
  input: string,
  format: InputFormat = "auto",
  onBytes?: (n: number) => void,
  jetstream?: JetStreamInput,
): Promise<OpenedSource> {
  if (isNatsInput(input)) {
    if (format !== "auto" && format !== "log")
      throw new SessionEventsError(`${input}: a JetStream log is read as a log ("log" format), not as ${format}`, {
        code: "INVALID_ARGUMENT",
      });
    const { openJetStreamSource } = await import("./jetstream-source.js"); // the NATS client only when needed
    return openJetStreamSource(input, jetstream, onBytes);
  }
  if (jetstream)
    throw new SessionEventsError(`${input}: JetStream options are for a nats:// input only`, {
      code: "INVALID_ARGUMENT",
    });
  if (input !== "-" && (await inputStat(input)).isDirectory()) {
    if (format !== "auto" && format !== "log")
      throw new SessionEventsError(
        `${input} is a directory: only the "log" format (a collector data directory) reads one`,
        { code: "INVALID_ARGUMENT" },
      );
    return openDataDirectory(input, onBytes);
  }
  if (format === "log")
    throw new SessionEventsError(`${input} is not a directory: the "log" format is a collector data directory`, {
      code: "INVALID_ARGUMENT",
    });
  const totalBytes = input === "-" ? undefined : (await stat(input)).size;
  const stream = await decompressed(rawChunks(input, onBytes));
  const window = new ByteWindow(stream.chunks, stream.close);
  try {
    const chosen = format !== "auto" ? format : (formatFromName(input) ?? (await sniff(window)));
    return {
      format: chosen,
      totalBytes,
      parts: single({ name: input, items: readItems(window, chosen, stream) }),
      close: () => window.close(),
    };
  } catch (e) {
    await window.close();
    throw e;
  }
}

async function inputStat(input: string) {
  try {
    return await stat(input);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SessionEventsError(
      `${input}: ${code === "ENOENT" ? "no such file or directory" : (e as Error).message}`,
      { code: code === "ENOENT" ? "NOT_FOUND" : "UNKNOWN", cause: e },
    );
  }
}

async function* single(part: SourcePart): AsyncIterable<SourcePart> {
  yield part;
}

const READERS: Readonly<
  Record<Exclude<InputFormat, "auto" | "log">, (window: ByteWindow) => AsyncIterable<RawItem[]>>
> = {
  segment: (window) => readSegmentStream(window),
  delimited: (window) => singles(readDelimited(window)),
  jsonl: (window) => readLineBatches(window),
};

async function* singles<T>(items: AsyncIterable<T>): AsyncGenerator<T[]> {
  for await (const item of items) yield [item];
}

async function* readItems(
  window: ByteWindow,
  format: Exclude<InputFormat, "auto" | "log">,
  stream: Decompressed,
): AsyncGenerator<RawItem[]> {
  try {
    yield* READERS[format](window);
    // gzip damage is found as the bytes run out; what came before it has been read.
    for (const d of stream.damage()) {
      yield [
        {
          kind: "damage",
          rule: d.torn ? "torn" : "framing",
          message: `gzip, at compressed byte ${d.compressedOffset}: ${d.message}`,
          offset: window.offset,
          bytes: 0,
        },
      ];
    }
  } finally {
    await window.close(); // also when the reader stops early: the file is closed
  }
}

async function openDataDirectory(dir: string, onBytes?: (n: number) => void): Promise<OpenedSource> {
  const segments = await listSegments(dir); // the log's own listing: named by first sequence, in order
  if (segments.length === 0)
    throw new SessionEventsError(`${dir} holds no log segments (files named like 00000000000000000001.seg)`, {
      code: "NOT_FOUND",
    });
  const gaps = await loadRepairedGaps(dir); // gaps `log repair` left on purpose are not damage
  const parts = segmentParts(segments, (last) => gaps.get(last), onBytes);
  return {
    format: "log",
    totalBytes: segments.reduce((n, s) => n + s.size, 0),
    parts,
    close: async () => void (await parts.return(undefined)),
  };
}

async function* segmentParts(
  segments: readonly SegmentFile[],
  repairedGap: (last: bigint) => bigint | undefined,
  onBytes?: (n: number) => void,
): AsyncGenerator<SourcePart> {
  let end: Omit<FrameReadEnd, "goodBytes"> = { last: undefined, endedInDamage: false };
  for (const [i, { file, first, size }] of segments.entries()) {
    const isLast = i === segments.length - 1;
    const items = async function* (): AsyncGenerator<RawItem[]> {
      const { last, endedInDamage } = end;
      // Records lost at the end of the previous segment are its damage: reported once.
      if (last !== undefined && first !== last + 1n && !endedInDamage && repairedGap(last) !== first) {
        const message =
          first > last + 1n
            ? `records ${last + 1n}..${first - 1n} are missing (a segment is missing)`
            : `segment starts at ${first}, but the previous one ended at ${last}`;
        yield [{ kind: "damage", rule: "sequence", message, offset: 0, bytes: 0 }];
      }
      const window = new ByteWindow(rawChunks(file, onBytes));
      try {
        const reader = readSegmentStream(window, { expectedFirst: first, totalBytes: size, repairedGap });
        let step = await reader.next();
        for (; !step.done; step = await reader.next()) yield step.value;
        end = { last: step.value.last ?? last, endedInDamage: step.value.endedInDamage };
      } finally {
        await window.close();
      }
    };
    yield { name: file, items: isLast ? withUnfinishedTail(items()) : items() };
  }
}

/**
 * The last segment of a data directory may end in a write the collector has
 * not finished (it is running) or that a crash cut: never acknowledged, and
 * exactly what the log's own recovery cuts (store/segment-log.ts). When the
 * only damage after the last good record is of that kind, it is passed on as
 * "unfinished", not as damage.
 */
async function* withUnfinishedTail(items: AsyncIterable<RawItem[]>): AsyncGenerator<RawItem[]> {
  let held: Extract<RawItem, { kind: "damage" }> | undefined;
  for await (const batch of items) {
    const out: RawItem[] = [];
    for (const item of batch) {
      if (held) out.push(held);
      held = undefined;
      if (item.kind === "damage" && item.crashTail) held = item;
      else out.push(item);
    }
    if (out.length > 0) yield out;
  }
  if (held) {
    yield [
      {
        kind: "unfinished",
        offset: held.offset,
        bytes: held.bytes,
        message: `${held.bytes} bytes after the last complete record: a write not finished (or cut by a crash), never acknowledged (${held.message})`,
      },
    ];
  }
}

async function* rawChunks(input: string, onBytes?: (n: number) => void): AsyncIterable<Buffer> {
  const stream: AsyncIterable<Buffer> =
    input === "-" ? process.stdin : createReadStream(input, { highWaterMark: READ_CHUNK });
  for await (const chunk of stream) {
    onBytes?.(chunk.length);
    yield chunk;
  }
}

interface Decompressed {
  readonly chunks: AsyncIterable<Buffer>;
  /** What was wrong with the gzip framing, found so far (complete once the chunks end). */
  damage(): readonly GzipDamage[];
  /** Close the file underneath, whether or not reading began. */
  close(): Promise<void>;
}

/**
 * The stream, gunzip'ed if it starts with gzip's magic bytes (gunzip.ts:
 * member by member; damage is reported after what came before it, which is
 * kept).
 */
async function decompressed(chunks: AsyncIterable<Buffer>): Promise<Decompressed> {
  const iterator = chunks[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  const readHead = async (n: number) => {
    while (head.length < n) {
      const next = await iterator.next();
      if (next.done) return;
      head = Buffer.concat([head, next.value]);
    }
  };
  await readHead(SEGMENT_MAGIC.length);
  const gzip = looksLikeGzip(head); // a segment starts with its own magic number, never gzip's
  const rest = async function* (): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    } finally {
      await iterator.return?.(); // close the file when reading stops early
    }
  };
  const close = async () => void (await iterator.return?.());
  if (!gzip) return { chunks: rest(), damage: () => [], close };
  const damage: GzipDamage[] = [];
  const compressed = new ByteWindow(rest());
  return {
    chunks: gunzipMembers(compressed, damage),
    damage: () => damage,
    close: async () => void (await compressed.close(), await close()),
  };
}

function formatFromName(name: string): Exclude<InputFormat, "auto" | "log"> | undefined {
  const base = name.replace(/\.gz$/i, "");
  if (/\.seg$/i.test(base)) return "segment";
  if (/\.(jsonl|ndjson)$/i.test(base)) return "jsonl";
  return undefined;
}

/**
 * Which format a stream holds, from its first bytes: a segment if it starts
 * with the segment magic number (a segment whose header is damaged is told
 * by its name, or --format segment); else JSON Lines if they look like it;
 * else length-delimited protobufs.
 */
async function sniff(window: ByteWindow): Promise<Exclude<InputFormat, "auto" | "log">> {
  if (
    (await window.want(SEGMENT_MAGIC.length)) &&
    window.view().subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC)
  )
    return "segment";
  await window.want(SNIFF_BYTES);
  const view = window.view();
  return looksLikeJsonLines(view.subarray(0, SNIFF_BYTES)) ? "jsonl" : "delimited";
}

/**
 * Some complete line among the first bytes is a JSON object (the first may
 * be cut: a stream can start mid-line); or, with no complete line yet, the
 * text starts with "{" and holds no control bytes. Protobuf bytes almost
 * never make a line that parses.
 */
function looksLikeJsonLines(bytes: Buffer): boolean {
  const lines = bytes.toString("utf8").split("\n");
  const complete = lines.slice(0, -1).map((l) => l.replace(/^\uFEFF/, "").trim());
  // biome-ignore lint/suspicious/noControlCharactersInRegex: a JSON line holds no raw control bytes; that is what is tested
  if (complete.length === 0) return /^\uFEFF?\s*\{[^\x00-\x08\x0b\x0c\x0e-\x1f]*$/.test(lines[0]!.slice(0, 4096));
  return complete.some((line) => line.startsWith("{") && parsesAsObject(line));
}

function parsesAsObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
