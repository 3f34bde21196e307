/**
 * Request decoding for the services: strict (bad UTF-8 and Struct
 * "__proto__" keys are refused, see bridge/decode.ts), and never a throw
 * inside grpc-js (which would answer INTERNAL for a client's mistake): a
 * request that cannot be decoded becomes a value the handler answers with
 * INVALID_ARGUMENT or a Rejection.
 */
import { decodeChecked, type Decoder } from "../bridge/decode.js";
import type { MessageMapping } from "../bridge/mapping.js";
import { ValidationError } from "../contract/errors.js";
import { CollectorError } from "../collector/errors.js";

/** A request as the server decoded it: the message, or why it could not be. */
export type Decoded<T> = { readonly message: T; readonly error?: undefined } | { readonly message?: undefined; readonly error: CollectorError };

/** A request message as a mapping whose field 1 (if any) is the event, so Struct keys inside it are found. */
export function requestMapping(protoName: string, event?: MessageMapping): MessageMapping {
  const name = protoName.split(".").pop()!;
  return { name, protoName, fields: event ? [{ number: 1, json: "event", proto: "event", kind: "message", message: event }] : [] };
}

export function strictly<T>(mapping: MessageMapping, type: Decoder<T>) {
  return (bytes: Buffer): Decoded<T> => {
    try {
      return { message: decodeChecked(mapping, type, bytes) };
    } catch (e) {
      if (e instanceof ValidationError) return { error: new CollectorError("INVALID_ARGUMENT", e.message, e.issues) };
      throw e;
    }
  };
}
