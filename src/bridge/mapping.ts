/**
 * How each contract type's JSON fields map to its protobuf message fields.
 * This table is data: the converter in convert.ts walks it, and
 * test/conformance.test.ts checks it against both the proto descriptors and
 * the JSON Schemas.
 */

/** How one field's value is carried on each side. */
export type FieldKind =
  | "string" // string <-> string
  | "int32" // JSON integer <-> int32
  | "int64" // JSON integer (at most 2^53-1) <-> int64 as bigint
  | "uint64" // uint64 as bigint (request fields only, never contract JSON)
  | "timestamp" // RFC 3339 string <-> google.protobuf.Timestamp
  | "struct" // JSON object <-> google.protobuf.Struct
  | "message"; // nested contract object <-> nested message

export interface FieldMapping {
  /** Contract JSON name (snake_case, as in the schema). */
  readonly json: string;
  /** Property name on the ts-proto message (camelCase). */
  readonly proto: string;
  /** Protobuf field number. */
  readonly number: number;
  readonly kind: FieldKind;
  /** For kind "message": the nested type's mapping. */
  readonly message?: MessageMapping;
  /**
   * Proto3 `optional` scalar: absent in JSON <-> unset on the wire. Message
   * kinds (timestamp, struct, message) always have presence.
   */
  readonly optional?: boolean;
}

export interface MessageMapping {
  /** Contract name, also the protobuf message name. */
  readonly name: string;
  /** Fully qualified protobuf message name. */
  readonly protoName: string;
  readonly fields: readonly FieldMapping[];
}

const f = (
  number: number,
  json: string,
  proto: string,
  kind: FieldKind,
  extra: Partial<FieldMapping> = {},
): FieldMapping => ({
  number,
  json,
  proto,
  kind,
  ...extra,
});

export const userInfoMapping: MessageMapping = {
  name: "UserInfo",
  protoName: "oneiric.session.v1.UserInfo",
  fields: [f(1, "username", "username", "string"), f(2, "home", "home", "string")],
};

export const environmentInfoMapping: MessageMapping = {
  name: "EnvironmentInfo",
  protoName: "oneiric.session.v1.EnvironmentInfo",
  fields: [
    f(1, "python_version", "pythonVersion", "string"),
    f(2, "platform", "platform", "string"),
    f(3, "cwd", "cwd", "string"),
  ],
};

export const sessionStartEventMapping: MessageMapping = {
  name: "SessionStartEvent",
  protoName: "oneiric.session.v1.SessionStartEvent",
  fields: [
    f(1, "event_version", "eventVersion", "string"),
    f(2, "event_id", "eventId", "string"),
    f(3, "event_type", "eventType", "string", { optional: true }),
    f(4, "component_name", "componentName", "string"),
    f(5, "shell_type", "shellType", "string"),
    f(6, "timestamp", "timestamp", "timestamp"),
    f(7, "pid", "pid", "int32"),
    f(8, "user", "user", "message", { message: userInfoMapping }),
    f(9, "hostname", "hostname", "string"),
    f(10, "environment", "environment", "message", { message: environmentInfoMapping }),
    f(11, "metadata", "metadata", "struct"),
  ],
};

export const sessionEndEventMapping: MessageMapping = {
  name: "SessionEndEvent",
  protoName: "oneiric.session.v1.SessionEndEvent",
  fields: [
    f(5, "event_version", "eventVersion", "string", { optional: true }),
    f(1, "event_type", "eventType", "string", { optional: true }),
    f(2, "session_id", "sessionId", "string"),
    f(3, "timestamp", "timestamp", "timestamp"),
    f(4, "metadata", "metadata", "struct"),
  ],
};

export const vrpEventMapping: MessageMapping = {
  name: "VrpEvent",
  protoName: "vrp.v1alpha1.VrpEvent",
  fields: [
    f(1, "ts_ms", "tsMs", "int64"),
    f(2, "event_type", "eventType", "string"),
    f(3, "session_id", "sessionId", "string"),
    f(4, "node_id", "nodeId", "string", { optional: true }),
    f(5, "reason_code", "reasonCode", "string", { optional: true }),
    f(6, "details", "details", "struct"),
  ],
};

export const MAPPINGS: readonly MessageMapping[] = [
  userInfoMapping,
  environmentInfoMapping,
  sessionStartEventMapping,
  sessionEndEventMapping,
  vrpEventMapping,
];
