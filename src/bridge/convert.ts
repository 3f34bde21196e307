/**
 * The generic converter: walks a MessageMapping to turn a ts-proto message
 * into contract JSON and back. It converts only; validation is the caller's
 * (see bridge.ts), so every conversion problem is reported as an issue rather
 * than thrown, and joins the schema's issues in one error.
 */
import { pointerSegment, type ValidationIssue } from "../contract/errors.js";
import type { Timestamp } from "../../gen/google/protobuf/timestamp.js";
import type { MessageMapping } from "./mapping.js";
import { formatTimestamp, parseTimestamp } from "../contract/timestamp.js";
import { unreadLazyStruct, type LazyStruct } from "./codec.js";

/** Free-form fields left as placeholders ({}) by messageToJson, to be given their lazily built value once validated. */
export type DeferredStructs = [holder: Json, property: string, lazy: LazyStruct][];

type Message = Record<string, unknown>;
type Json = Record<string, unknown>;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Contract JSON -> message. `json` must already be schema-valid. */
export function jsonToMessage(mapping: MessageMapping, json: Json, path: string, issues: ValidationIssue[]): Message {
  const out: Message = {};
  for (const field of mapping.fields) {
    const value = json[field.json];
    const at = () => `${path}/${pointerSegment(field.json)}`; // only built for an issue
    switch (field.kind) {
      case "string":
        out[field.proto] = value ?? (field.optional ? undefined : "");
        break;
      case "int32":
        out[field.proto] = value ?? 0;
        break;
      case "int64":
        out[field.proto] = typeof value === "number" ? BigInt(value) : 0n;
        break;
      case "timestamp":
        out[field.proto] = value === undefined ? undefined : toTimestamp(value as string, at, issues);
        break;
      case "struct":
        out[field.proto] = value;
        break;
      case "message":
        out[field.proto] = value === undefined ? undefined : jsonToMessage(field.message!, value as Json, at(), issues);
        break;
    }
  }
  return out;
}

/**
 * Message -> contract JSON. Unset message fields are left out for the schema
 * to judge. A free-form field still held as checked bytes (codec.ts, not yet
 * read) becomes `{}` here and is listed in `deferred`: its bytes already keep
 * every free-form rule, and building it only to validate it would cost more
 * than the rest of the event; the caller gives the JSON the same lazily built
 * value once the rest is validated.
 */
export function messageToJson(
  mapping: MessageMapping,
  message: Message,
  path: string,
  issues: ValidationIssue[],
  deferred?: DeferredStructs,
): Json {
  const out: Json = {};
  for (const field of mapping.fields) {
    const lazy = deferred && field.kind === "struct" ? unreadLazyStruct(message, field.proto) : undefined;
    if (lazy) {
      out[field.json] = {};
      deferred!.push([out, field.json, lazy]);
      continue;
    }
    const value = message[field.proto];
    const at = () => `${path}/${pointerSegment(field.json)}`; // only built for an issue
    if (value === undefined || value === null) {
      // Implicit-presence scalars always exist in proto3; a missing one on a
      // hand-built object is written as its default so the schema can judge it.
      if (field.kind === "string" && !field.optional) out[field.json] = "";
      else if (field.kind === "int32" || field.kind === "int64") out[field.json] = 0;
      continue;
    }
    switch (field.kind) {
      case "string":
      case "int32":
      case "struct":
        out[field.json] = value;
        break;
      case "int64":
        out[field.json] = fromInt64(value, at, issues);
        break;
      case "timestamp":
        if (!isTimestamp(value))
          issues.push({ path: at(), rule: "type", message: "must be a google.protobuf.Timestamp {seconds, nanos}" });
        else out[field.json] = fromTimestamp(value, at, issues);
        break;
      case "message":
        // A hand-built message may hold anything here; walking a string as a
        // message would read defaults and hide the mistake.
        if (typeof value !== "object" || Array.isArray(value))
          issues.push({ path: at(), rule: "type", message: `must be a ${field.message!.name} message` });
        else out[field.json] = messageToJson(field.message!, value as Message, at(), issues, deferred);
        break;
    }
  }
  return out;
}

function toTimestamp(text: string, path: () => string, issues: ValidationIssue[]): Timestamp | undefined {
  try {
    return parseTimestamp(text);
  } catch (e) {
    issues.push({ path: path(), rule: "timestamp_range", message: (e as Error).message });
    return undefined;
  }
}

function fromTimestamp(ts: Timestamp, path: () => string, issues: ValidationIssue[]): string | undefined {
  try {
    return formatTimestamp(ts);
  } catch (e) {
    issues.push({
      path: path(),
      rule: "timestamp_range",
      message: `is not a valid Timestamp: ${(e as Error).message}`,
    });
    return undefined;
  }
}

/** int64 -> JSON number, refusing what a double cannot hold exactly. */
function fromInt64(value: unknown, path: () => string, issues: ValidationIssue[]): unknown {
  if (typeof value === "bigint") {
    if (value > MAX_SAFE || value < -MAX_SAFE) {
      issues.push({
        path: path(),
        rule: "int64_range",
        message: `${value} exceeds 2^53-1, the largest integer JSON numbers carry exactly`,
      });
      return undefined;
    }
    return Number(value);
  }
  if (typeof value === "number") return value; // a hand-built message may hold a number; the schema judges it
  issues.push({ path: path(), rule: "type", message: "must be an int64 (bigint)" });
  return undefined;
}

function isTimestamp(value: unknown): value is Timestamp {
  if (typeof value !== "object" || value === null) return false;
  const { seconds, nanos } = value as Record<string, unknown>;
  return (typeof seconds === "bigint" || Number.isSafeInteger(seconds)) && typeof nanos === "number";
}
