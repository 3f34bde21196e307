/**
 * Decoding protobuf bytes from strangers. Two things the generated decoders
 * would get wrong are checked here first:
 * - invalid UTF-8 in a string is refused, not replaced with U+FFFD;
 * - a Struct key "__proto__" (struct-keys.ts) is refused, not turned into a
 *   prototype or silently dropped.
 * Every failure is a ValidationError (rules "protobuf", "forbidden_key").
 */
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { ValidationError, describeError } from "../contract/errors.js";
import { forbiddenKeyMessage } from "../contract/shape.js";
import type { MessageMapping } from "./mapping.js";
import { findProtoKeys } from "./struct-keys.js";

export interface Decoder<M> {
  decode(input: BinaryReader | Uint8Array, length?: number): M;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const decodeUtf8Strictly = (bytes: Uint8Array) => strictUtf8.decode(bytes);

export function decodeChecked<M>(mapping: MessageMapping, type: Decoder<M>, bytes: Uint8Array): M {
  if (!(bytes instanceof Uint8Array)) {
    throw new ValidationError(mapping.name, [{ path: "", rule: "type", message: "must be protobuf bytes (a Uint8Array)" }]);
  }
  let protoKeys: string[];
  let message: M;
  try {
    protoKeys = findProtoKeys(mapping, bytes);
    message = type.decode(new BinaryReader(bytes, decodeUtf8Strictly));
  } catch (e) {
    throw new ValidationError(mapping.name, [{ path: "", rule: "protobuf", message: `malformed protobuf: ${describeError(e)}` }]);
  }
  if (protoKeys.length > 0) {
    throw new ValidationError(
      mapping.name,
      protoKeys.map((path) => ({ path, rule: "forbidden_key", message: forbiddenKeyMessage("__proto__") })),
    );
  }
  return message;
}
