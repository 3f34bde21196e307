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
  | "timestamp" // RFC 3339 string <-> google.protobuf.Timestamp
  | "struct" // JSON object <-> google.protobuf.Struct
  | "message"; // nested contract object <-> nested message

export interface FieldMapping {
  /** Contract JSON name (snake_case, as in the schema). */
  readonly json: string;
  /** Property name on the ts-proto message (camelCase). */
  readonly proto: string;
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

const f = (json: string, proto: string, kind: FieldKind, extra: Partial<FieldMapping> = {}): FieldMapping => ({
  json,
  proto,
  kind,
  ...extra,
});

export const userInfoMapping: MessageMapping = {
  name: "UserInfo",
  protoName: "oneiric.session.v1.UserInfo",
  fields: [f("username", "username", "string"), f("home", "home", "string")],
};

export const environmentInfoMapping: MessageMapping = {
  name: "EnvironmentInfo",
  protoName: "oneiric.session.v1.EnvironmentInfo",
  fields: [
    f("python_version", "pythonVersion", "string"),
    f("platform", "platform", "string"),
    f("cwd", "cwd", "string"),
  ],
};

export const sessionStartEventMapping: MessageMapping = {
  name: "SessionStartEvent",
  protoName: "oneiric.session.v1.SessionStartEvent",
  fields: [
    f("event_version", "eventVersion", "string"),
    f("event_id", "eventId", "string"),
    f("event_type", "eventType", "string", { optional: true }),
    f("component_name", "componentName", "string"),
    f("shell_type", "shellType", "string"),
    f("timestamp", "timestamp", "timestamp"),
    f("pid", "pid", "int32"),
    f("user", "user", "message", { message: userInfoMapping }),
    f("hostname", "hostname", "string"),
    f("environment", "environment", "message", { message: environmentInfoMapping }),
    f("metadata", "metadata", "struct"),
  ],
};

export const sessionEndEventMapping: MessageMapping = {
  name: "SessionEndEvent",
  protoName: "oneiric.session.v1.SessionEndEvent",
  fields: [
    f("event_version", "eventVersion", "string", { optional: true }),
    f("event_type", "eventType", "string", { optional: true }),
    f("session_id", "sessionId", "string"),
    f("timestamp", "timestamp", "timestamp"),
    f("metadata", "metadata", "struct"),
  ],
};

export const vrpEventMapping: MessageMapping = {
  name: "VrpEvent",
  protoName: "vrp.v1alpha1.VrpEvent",
  fields: [
    f("ts_ms", "tsMs", "int64"),
    f("event_type", "eventType", "string"),
    f("session_id", "sessionId", "string"),
    f("node_id", "nodeId", "string", { optional: true }),
    f("reason_code", "reasonCode", "string", { optional: true }),
    f("details", "details", "struct"),
  ],
};

export const MAPPINGS: readonly MessageMapping[] = [
  userInfoMapping,
  environmentInfoMapping,
  sessionStartEventMapping,
  sessionEndEventMapping,
  vrpEventMapping,
];
