/**
 * session-events: the public API.
 *
 * - Session models (create / validateJson / validateJsonSafe / jsonSchema)
 * - The schema registry (getAllSchemas / getSchema / validateEventJson / exportSchemasToFile)
 * - The bridge between protobuf messages and contract JSON (`bridges`)
 * - The generated protobuf messages, under `pb`
 */
export { SessionStartEvent, SessionEndEvent, UserInfo, EnvironmentInfo } from "./session/models.js";
export type { Model, SafeResult, SessionStartInit, SessionEndInit } from "./session/models.js";
export {
  getAllSchemas,
  getSchema,
  validateEventJson,
  exportSchemasToFile,
  EXPORT_FORMATS,
  type ExportFormat,
} from "./session/registry.js";
export { ValidationError, type ValidationIssue } from "./contract/errors.js";
export type {
  JsonObject,
  JsonValue,
  SessionStartEventJson,
  SessionEndEventJson,
  UserInfoJson,
  EnvironmentInfoJson,
  VrpEventJson,
} from "./contract/types.js";
export { SESSION_EVENT_VERSION } from "./contract/schemas/session.js";
export { VRP_SCHEMA_VERSION } from "./contract/schemas/vrp.js";
export {
  VRP_EVENT_TYPES,
  KNOWN_VRP_EVENT_TYPES,
  VRP_SESSION_STATES,
  isKnownVrpEventType,
  type KnownVrpEventType,
  type VrpSessionState,
} from "./contract/vrp-vocabulary.js";
export { bridges, type Bridge } from "./bridge/index.js";
export { parseTimestamp, formatTimestamp } from "./contract/timestamp.js";
export * as pb from "./pb.js";
