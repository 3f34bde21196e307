/**
 * Reading length-delimited protobuf records (a varint length, then the
 * message: what Java's writeDelimitedTo and Python's _VarintBytes framing
 * write). There is no checksum and no marker, so after a length that cannot
 * be right the rest of the stream cannot be trusted: it is reported as one
 * damage and reading ends.
 */
import { MAX_PAYLOAD_BYTES } from "../store/frame.js";
import type { ByteWindow } from "../store/byte-window.js";
import type { RawItem } from "./raw-record.js";

const MAX_VARINT_BYTES = 10;

export async function* readDelimited(window: ByteWindow): AsyncGenerator<RawItem> {
  while (await window.want(1)) {
    await window.want(MAX_VARINT_BYTES); // may end sooner; the varint is usually shorter
    const offset = window.offset;
    const header = readVarint(window.view());
    if (header === "short" || header === "long" || header.value > MAX_PAYLOAD_BYTES) {
      const message =
        header === "short"
          ? "torn length prefix"
          : header === "long"
            ? "malformed length prefix (a varint longer than 10 bytes)"
            : `length prefix ${header.value} exceeds ${MAX_PAYLOAD_BYTES}`;
      const bytes = await window.drain();
      yield {
        kind: "damage",
        rule: header === "short" ? "torn" : "framing",
        message: `${message}; the ${bytes} bytes from here cannot be read`,
        offset,
        bytes,
      };
      return;
    }
    const size = header.bytes + header.value;
    if (!(await window.want(size))) {
      const bytes = await window.drain();
      yield {
        kind: "damage",
        rule: "torn",
        message: `torn record (${bytes - header.bytes} of ${header.value} bytes)`,
        offset,
        bytes,
      };
      return;
    }
    const payload = window.view().subarray(header.bytes, size);
    window.skip(size);
    yield { kind: "record", payload, offset };
  }
}

function readVarint(view: Buffer): { value: number; bytes: number } | "short" | "long" {
  let value = 0;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (i >= view.length) return "short";
    const byte = view[i]!;
    value += (byte & 0x7f) * 2 ** (7 * i); // multiplication: exact past 32 bits, unlike <<
    if ((byte & 0x80) === 0) return { value, bytes: i + 1 };
  }
  return "long";
}

/** The varint length prefix of a record (for writing). */
export function varintPrefix(length: number): Buffer {
  const bytes: number[] = [];
  let n = length;
  while (n >= 0x80) {
    bytes.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}
