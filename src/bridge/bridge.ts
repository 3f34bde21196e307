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
import { ValidationError, type ValidationIssue } from "../contract/errors.js";
import type { ContractValidator } from "../contract/validate.js";
import { jsonToMessage, messageToJson } from "./convert.js";
import type { MessageMapping } from "./mapping.js";
import { findProtoKeys } from "./struct-keys.js";

/** The part of a ts-proto message type the bridge needs. */
export interface MessageType<M> {
  encode(message: M, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): M;
}

export interface Bridge<M, J> {
  readonly name: string;
  toJson(message: M): J;
  fromJson(json: unknown): M;
  toBinary(json: unknown): Uint8Array;
  fromBinary(bytes: Uint8Array): J;
}

const FORBIDDEN_PROTO_KEY = 'key "__proto__" is refused (it could pollute an object prototype)';

export function makeBridge<M, J>(
  mapping: MessageMapping,
  contract: ContractValidator<J>,
  type: MessageType<M>,
): Bridge<M, J> {
  // One writer per bridge, reused: encoding is synchronous, and a fresh
  // writer would allocate and grow a buffer for every event.
  const writer = new BinaryWriter();
  const fail = (issues: ValidationIssue[]): never => {
    throw new ValidationError(mapping.name, issues);
  };

  const toJson = (message: M): J => {
    if (typeof message !== "object" || message === null) {
      fail([{ path: "", rule: "type", message: "must be a protobuf message object" }]);
    }
    const issues: ValidationIssue[] = [];
    const json = messageToJson(mapping, message as Record<string, unknown>, "", issues);
    // A value that could not be converted is left out of the JSON; the
    // schema's "required" for that same path would only repeat the problem.
    const unconvertible = new Set(issues.map((i) => i.path));
    issues.push(...contract.issues(json).filter((i) => !unconvertible.has(i.path)));
    if (issues.length > 0) fail(issues);
    return json as J;
  };

  const fromJson = (json: unknown): M => {
    const valid = contract.assert(json) as Record<string, unknown>;
    const issues: ValidationIssue[] = [];
    const message = jsonToMessage(mapping, valid, "", issues);
    if (issues.length > 0) fail(issues);
    return message as M;
  };

  return {
    name: mapping.name,
    toJson,
    fromJson,
    toBinary: (json) => type.encode(fromJson(json), writer).finish(),
    fromBinary(bytes) {
      let message: M;
      try {
        const protoKeys = findProtoKeys(mapping, bytes);
        if (protoKeys.length > 0) {
          return fail(protoKeys.map((path) => ({ path, rule: "forbidden_key", message: FORBIDDEN_PROTO_KEY })));
        }
        message = type.decode(bytes);
      } catch (e) {
        if (e instanceof ValidationError) throw e;
        return fail([{ path: "", rule: "protobuf", message: `malformed protobuf: ${(e as Error).message}` }]);
      }
      return toJson(message);
    },
  };
}
