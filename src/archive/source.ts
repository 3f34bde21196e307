/**
 * Opening an input: a collector data directory, a segment file, a file of
 * length-delimited protobufs, or JSON Lines; any file may be gzip'ed, and "-"
 * is standard input. The format is told by the caller, else by the name, else
 * by the first bytes. What comes out is raw items (records, lines, damage)
 * per part (a data directory's segments, in order).
 */
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { Readable, pipeline } from "node:stream";
import { createGunzip, crc32 } from "node:zlib";
import { HEADER_BYTES } from "../store/frame.js";
import { ByteWindow } from "./byte-window.js";
import { readDelimited } from "./delimited-reader.js";
import { readFrames } from "./frame-reader.js";
import { readLines } from "./line-reader.js";
import type { RawItem } from "./raw-record.js";

export type InputFormat = "auto" | "log" | "segment" | "delimited" | "jsonl";
export const INPUT_FORMATS: readonly InputFormat[] = ["auto", "log", "segment", "delimited", "jsonl"];

export interface SourcePart {
  /** The file the items come from ("-" for standard input). */
  readonly name: string;
  readonly items: AsyncIterable<RawItem>;
}

export interface OpenedSource {
  /** The format read (never "auto"). */
  readonly format: Exclude<InputFormat, "auto">;
  /** Bytes the input holds on disk, when known (for progress). */
  readonly totalBytes: number | undefined;
  readonly parts: AsyncIterable<SourcePart>;
}

const SEGMENT = /^(\d{20})\.seg$/;
const READ_CHUNK = 1 << 20;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
/** A first frame longer than this is not taken as a sign of the segment format. */
const SNIFF_MAX_FRAME = 4 * 1024 * 1024;

/** The input's bytes (as stored, before gunzip) are reported to `onBytes` as they are read. */
export async function openSource(input: string, format: InputFormat = "auto", onBytes?: (n: number) => void): Promise<OpenedSource> {
  if (input !== "-" && (await inputStat(input)).isDirectory()) {
    if (format !== "auto" && format !== "log") throw new Error(`${input} is a directory: only the "log" format (a collector data directory) reads one`);
    return openDataDirectory(input, onBytes);
  }
  if (format === "log") throw new Error(`${input} is not a directory: the "log" format is a collector data directory`);
  const totalBytes = input === "-" ? undefined : (await stat(input)).size;
  const stream = await decompressed(rawChunks(input, onBytes));
  const window = new ByteWindow(stream.chunks);
  const chosen = format !== "auto" ? format : (formatFromName(input) ?? (await sniff(window)));
  return { format: chosen, totalBytes, parts: single({ name: input, items: readItems(window, chosen, stream) }) };
}

async function inputStat(input: string) {
  try {
    return await stat(input);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${input}: ${code === "ENOENT" ? "no such file or directory" : (e as Error).message}`);
  }
}

async function* single(part: SourcePart): AsyncIterable<SourcePart> {
  yield part;
}

const READERS: Readonly<Record<Exclude<InputFormat, "auto" | "log">, (window: ByteWindow) => AsyncIterable<RawItem>>> = {
  segment: (window) => readFrames(window),
  delimited: readDelimited,
  jsonl: readLines,
};

async function* readItems(window: ByteWindow, format: Exclude<InputFormat, "auto" | "log">, stream: Decompressed): AsyncGenerator<RawItem> {
  yield* READERS[format](window);
  const error = stream.failure();
  if (error) {
    const torn = /unexpected end/i.test(error.message);
    yield { kind: "damage", rule: torn ? "torn" : "framing", message: `gzip: ${error.message}; nothing after this point could be read`, offset: window.offset, bytes: 0 };
  }
}

async function openDataDirectory(dir: string, onBytes?: (n: number) => void): Promise<OpenedSource> {
  const names = (await readdir(dir)).filter((n) => SEGMENT.test(n)).sort();
  if (names.length === 0) throw new Error(`${dir} holds no log segments (files named like 00000000000000000001.seg)`);
  const files = names.map((name) => path.join(dir, name));
  const sizes = await Promise.all(files.map(async (f) => (await stat(f)).size));
  return { format: "log", totalBytes: sizes.reduce((a, b) => a + b, 0), parts: segmentParts(files, onBytes) };
}

async function* segmentParts(files: readonly string[], onBytes?: (n: number) => void): AsyncIterable<SourcePart> {
  let last: bigint | undefined;
  for (const [i, file] of files.entries()) {
    const first = BigInt(SEGMENT.exec(path.basename(file))![1]!);
    const items = async function* (): AsyncGenerator<RawItem> {
      if (last !== undefined && first !== last + 1n) {
        const message = first > last + 1n ? `records ${last + 1n}..${first - 1n} are missing (a segment is missing)` : `segment starts at ${first}, but the previous one ended at ${last}`;
        yield { kind: "damage", rule: "sequence", message, offset: 0, bytes: 0 };
      }
      const reader = readFrames(new ByteWindow(rawChunks(file, onBytes)), { firstSequence: first });
      let step = await reader.next();
      for (; !step.done; step = await reader.next()) yield step.value;
      last = step.value ?? (last === undefined ? first - 1n : last);
    };
    yield { name: file, items: i === files.length - 1 ? withUnfinishedTail(items()) : items() };
  }
}

/**
 * Damage at the very end of the last segment, with no good record after it,
 * is a write in progress (a live collector) or one a crash cut: the same
 * rule as the log's recovery (store/segment-log.ts), which cuts it. It is
 * passed on as "unfinished", not as damage.
 */
async function* withUnfinishedTail(items: AsyncIterable<RawItem>): AsyncGenerator<RawItem> {
  let held: Extract<RawItem, { kind: "damage" }>[] = [];
  for await (const item of items) {
    if (item.kind === "damage" && item.bytes > 0 && item.rule !== "sequence") {
      held.push(item);
      continue;
    }
    yield* held;
    held = [];
    yield item;
  }
  if (held.length > 0) {
    const bytes = held.reduce((n, d) => n + d.bytes, 0);
    yield { kind: "unfinished", offset: held[0]!.offset, bytes, message: `${bytes} bytes after the last complete record: a write not finished (or cut by a crash), never acknowledged (${held[0]!.message})` };
  }
}

async function* rawChunks(input: string, onBytes?: (n: number) => void): AsyncIterable<Buffer> {
  const stream: AsyncIterable<Buffer> = input === "-" ? process.stdin : createReadStream(input, { highWaterMark: READ_CHUNK });
  for await (const chunk of stream) {
    onBytes?.(chunk.length);
    yield chunk;
  }
}

interface Decompressed {
  readonly chunks: AsyncIterable<Buffer>;
  /** The gzip error that ended the stream early, if one did. */
  failure(): Error | undefined;
}

/**
 * The stream, gunzip'ed if it starts with gzip's magic bytes. A gzip error
 * (a cut or corrupt file) ends the stream early, and is reported as damage
 * after what came before it, which is kept.
 */
async function decompressed(chunks: AsyncIterable<Buffer>): Promise<Decompressed> {
  const iterator = chunks[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  while (head.length < GZIP_MAGIC.length) {
    const next = await iterator.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value]);
  }
  const rest = async function* (): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  };
  if (!head.subarray(0, 2).equals(GZIP_MAGIC)) return { chunks: rest(), failure: () => undefined };
  const gunzip = createGunzip();
  pipeline(Readable.from(rest()), gunzip, () => {}); // an error reaches the loop below through gunzip
  let error: Error | undefined;
  const out = async function* (): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of gunzip) yield chunk as Buffer;
    } catch (e) {
      error = e as Error;
    }
  };
  return { chunks: out(), failure: () => error };
}

function formatFromName(name: string): Exclude<InputFormat, "auto" | "log"> | undefined {
  const base = name.replace(/\.gz$/i, "");
  if (/\.seg$/i.test(base)) return "segment";
  if (/\.(jsonl|ndjson)$/i.test(base)) return "jsonl";
  return undefined;
}

/** JSON text starts with "{" (after blanks); a segment with a frame whose checksum holds; anything else is taken as delimited. */
async function sniff(window: ByteWindow): Promise<Exclude<InputFormat, "auto" | "log">> {
  await window.want(HEADER_BYTES);
  const view = window.view();
  const firstText = view.subarray(0, 64).toString("latin1").trimStart();
  if (firstText.startsWith("{")) return "jsonl";
  if (view.length >= HEADER_BYTES) {
    const length = view.readUInt32LE(0);
    if (length <= SNIFF_MAX_FRAME && (await window.want(HEADER_BYTES + length))) {
      const frame = window.view();
      if (frame.readUInt32LE(4) === crc32(frame.subarray(8, HEADER_BYTES + length))) return "segment";
    }
  }
  return "delimited";
}
