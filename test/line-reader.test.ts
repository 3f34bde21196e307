/**
 * The JSON Lines reader against a line-by-line model: any mix of UTF-8 and
 * broken lines, "\r\n" ends, a byte order mark, blank lines and a last line
 * without "\n", cut into chunks of any size. Each line comes out as text or
 * as "not UTF-8" damage exactly as the model says (the reader checks UTF-8
 * for a whole run of lines at once, and line by line only in a run that
 * fails).
 */
import { isUtf8 } from "node:buffer";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readLines } from "../src/archive/line-reader.js";
import type { RawItem } from "../src/archive/raw-record.js";
import { ByteWindow } from "../src/store/byte-window.js";

const NEWLINE = 0x0a;

/** What the reader should yield, line by line. */
function model(bytes: Buffer): RawItem[] {
  const items: RawItem[] = [];
  let offset = 0;
  let line = 0;
  while (offset < bytes.length) {
    const found = bytes.indexOf(NEWLINE, offset);
    const end = found < 0 ? bytes.length : found;
    line++;
    let from = offset;
    let to = end;
    if (to > from && bytes[to - 1] === 0x0d) to--;
    if (offset === 0 && to - from >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) from += 3;
    const length = end - offset;
    if (!isUtf8(bytes.subarray(from, to)))
      items.push({ kind: "damage", rule: "json", message: "not UTF-8 text", offset, bytes: length, line });
    else {
      const text = bytes.toString("utf8", from, to);
      if (bytes[from] === 0x7b || text.trim() !== "") items.push({ kind: "line", text, offset, line, bytes: length });
    }
    offset = end + 1;
  }
  return items;
}

async function* chunksOf(bytes: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const size = sizes[k % sizes.length]!;
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

/** A line's bytes: UTF-8 text (JSON-like or not), blank, or arbitrary bytes (often not UTF-8); none holds "\n". */
const lineBytes = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }).map((s) => Buffer.from(`{"s":${JSON.stringify(s)}}`)),
  fc.string({ unit: "binary", maxLength: 20 }).map((s) => Buffer.from(s.replaceAll("\n", " "))),
  fc.constantFrom(Buffer.from(""), Buffer.from("  "), Buffer.from("\r")),
  fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b.map((x) => (x === NEWLINE ? 0x80 : x)))),
);

test("every line is read as the line-by-line model reads it, however the input is chunked", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(lineBytes, fc.boolean()), { maxLength: 30 }),
      fc.boolean(),
      fc.boolean(),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
      async (lines, bom, lastNewline, sizes) => {
        const parts: Buffer[] = bom ? [Buffer.from([0xef, 0xbb, 0xbf])] : [];
        lines.forEach(([bytes, crlf], i) => {
          parts.push(bytes);
          if (i < lines.length - 1 || lastNewline) parts.push(Buffer.from(crlf ? "\r\n" : "\n"));
        });
        const bytes = Buffer.concat(parts);
        const read: RawItem[] = [];
        for await (const item of readLines(new ByteWindow(chunksOf(bytes, sizes)))) read.push(item);
        assert.equal(read, model(bytes));
      },
    ),
    { numRuns: 300 },
  );
});

test("a line that is not UTF-8 among thousands that are: only it is damage, named by its line", async () => {
  const good = Buffer.from('{"type":"session_start","name":"ü-\u{1f600}"}\n');
  const bad = Buffer.from([0x7b, 0xc3, 0x28, 0x7d, 0x0a]); // 0xc3 then "(": a cut-short sequence
  const bytes = Buffer.concat([...Array(3000).fill(good), bad, ...Array(3000).fill(good)]);
  const read: RawItem[] = [];
  for await (const item of readLines(new ByteWindow(chunksOf(bytes, [65536, 1000, 7])))) read.push(item);
  assert.is(read.length, 6001);
  const damage = read.filter((r) => r.kind === "damage");
  assert.equal(damage, [
    { kind: "damage", rule: "json", message: "not UTF-8 text", offset: 3000 * good.length, bytes: 4, line: 3001 },
  ]);
  assert.equal(read, model(bytes));
});

test.run();
