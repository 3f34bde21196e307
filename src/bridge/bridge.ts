/**
 * The bridge: protobuf messages <-> contract JSON, validated in both
 * directions against the exported JSON Schemas.
 *
 *   toJson(message)     message -> contract JSON       (validated)
 *   fromJson(json)      contract JSON -> message       (validated first)
 *   toBinary(json)      contract JSON -> protobuf bytes
 *   fromBinary(bytes)   protobuf bytes -> contract JSON
 *
 * Every failure is a ValidationError naming each field and rule.
 */
import { BinaryWriter, type BinaryReader } from "@bufbuild/protobuf/wire";
import { ValidationError, describeError, type ValidationIssue } from "../contract/errors.js";
import { decodeMessage, defineLazyStruct, encodeMessage } from "./codec.js";
import type { ContractValidator } from "../contract/validate.js";
import { jsonToMessage, messageToJson, type DeferredStructs } from "./convert.js";
import type { MessageMapping } from "./mapping.js";

/**
 * A ts-proto message type: it ties M to the generated message. The bridge
 * encodes and decodes with codec.ts, which writes the same bytes and reads
 * them more strictly and faster.
 */
export interface MessageType<M> {
  encode(message: M, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): M;
}

/** Conversions of one message between protobuf (message `M`, bytes) and contract JSON `J`; every direction validates and throws ValidationError. */
export interface Bridge<M, J> {
  readonly name: string;
  toJson(message: M): J;
  fromJson(json: unknown): M;
  toBinary(json: unknown): Uint8Array;
  fromBinary(bytes: Uint8Array): J;
}

export function makeBridge<M, J>(
  mapping: MessageMapping,
  contract: ContractValidator<J>,
  _type: MessageType<M>,
): Bridge<M, J> {
  // One writer per bridge, reused: encoding is synchronous, and a fresh
  // writer would allocate and grow a buffer for every event.
  const writer = new BinaryWriter();
  const fail = (issues: ValidationIssue[]): never => {
    throw new ValidationError(mapping.name, issues);
  };
  /** Every failure leaves as a ValidationError, even a throwing getter's. */
  const guarded =
    <A, R>(fn: (arg: A) => R) =>
    (arg: A): R => {
      try {
        return fn(arg);
      } catch (e) {
        if (e instanceof ValidationError) throw e;
        return fail([{ path: "", rule: "input", message: `could not be read: ${describeError(e)}` }]);
      }
    };

  const toJson = (message: M): J => {
    if (typeof message !== "object" || message === null) {
      fail([{ path: "", rule: "type", message: "must be a protobuf message object" }]);
    }
    const issues: ValidationIssue[] = [];
    const deferred: DeferredStructs = [];
    const json = messageToJson(mapping, message as Record<string, unknown>, "", issues, deferred);
    // A value that could not be converted is left out of the JSON; the
    // schema's "required" for that same path would only repeat the problem.
    const unconvertible = new Set(issues.map((i) => i.path));
    issues.push(...contract.issues(json).filter((i) => !unconvertible.has(i.path)));
    if (issues.length > 0) fail(issues);
    for (const [holder, property, lazy] of deferred) defineLazyStruct(holder, property, lazy);
    return json as J;
  };

  const fromJson = (json: unknown): M => {
    const valid = contract.assert(json) as Record<string, unknown>;
    const issues: ValidationIssue[] = [];
    const message = jsonToMessage(mapping, valid, "", issues);
    if (issues.length > 0) fail(issues);
    return message as M;
  };

  const toBinary = (json: unknown): Uint8Array => {
    const message = fromJson(json);
    try {
      return encodeMessage(mapping, message as object, writer).finish();
    } catch (e) {
      writer.finish(); // reset: a half-written event must not lead the next one
      throw e;
    }
  };

  const fromBinary = (bytes: Uint8Array): J => {
    if (!(bytes instanceof Uint8Array))
      fail([{ path: "", rule: "type", message: "must be protobuf bytes (a Uint8Array)" }]);
    return toJson(decodeMessage<M>(mapping, bytes));
  };

  return {
    name: mapping.name,
    toJson: guarded(toJson),
    fromJson: guarded(fromJson),
    toBinary: guarded(toBinary),
    fromBinary: guarded(fromBinary),
  };
}
