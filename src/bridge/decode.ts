/**
 * Decoding protobuf bytes from strangers, for messages the generated code
 * decodes (a LogEntry, service requests that carry no event). Contract
 * messages have their own strict codec (codec.ts); here ts-proto decodes, and
 * what it would get wrong is checked with the same rules:
 * - invalid UTF-8 in a string is refused, not replaced with U+FFFD;
 * - a Struct key "__proto__" is refused, not turned into a prototype or
 *   silently dropped (the bytes are checked first when they hold the key);
 * - nesting past the contract's limit is named by its path (ts-proto's own
 *   "recursion limit exceeded" names nothing).
 * Every failure is a ValidationError (rules "protobuf", "forbidden_key", "max_depth").
 */
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { ValidationError, describeError } from "../contract/errors.js";
import { decodeUtf8Strictly, findStructProblem } from "./codec.js";
import type { MessageMapping } from "./mapping.js";

export interface Decoder<M> {
  decode(input: BinaryReader | Uint8Array, length?: number): M;
}

const KEY_BYTES = Buffer.from("__proto__");

/** `mapping` names the path to each Struct field inside the message (other fields need not be listed). */
export function decodeChecked<M>(mapping: MessageMapping, type: Decoder<M>, bytes: Uint8Array): M {
  if (!(bytes instanceof Uint8Array)) {
    throw new ValidationError(mapping.name, [
      { path: "", rule: "type", message: "must be protobuf bytes (a Uint8Array)" },
    ]);
  }
  // The key's bytes appear in any message that carries it, however its tag
  // and length are encoded: a cheap test that rules out almost every message.
  if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(KEY_BYTES)) {
    const problem = findStructProblem(mapping, bytes);
    if (problem) throw new ValidationError(mapping.name, [problem]);
  }
  try {
    return type.decode(new BinaryReader(bytes, decodeUtf8Strictly));
  } catch (e) {
    // Too deep for ts-proto: say where, by the contract's count.
    const problem = findStructProblem(mapping, bytes);
    if (problem) throw new ValidationError(mapping.name, [problem]);
    throw new ValidationError(mapping.name, [
      { path: "", rule: "protobuf", message: `malformed protobuf: ${describeError(e)}` },
    ]);
  }
}
