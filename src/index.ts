/**
 * session-events: the contract, the models, the bridges and the errors — what
 * every user needs, and nothing that talks to the network (this entry loads
 * no grpc-js). The rest lives under subpaths:
 *
 * - `session-events/client`: SessionEventEmitter, VrpProducer, subscribeVrp
 * - `session-events/server`: startServer and its configuration
 * - `session-events/archive`: the protobuf log <-> JSON Lines
 * - `session-events/log`: the durable event log, verify and repair
 * - `session-events/pb`: the generated protobuf messages and gRPC stubs
 *
 * One name per concept: `SessionStartEvent` is the model (create /
 * validateJson), `SessionStartEventJson` its contract JSON, and the protobuf
 * message of the same proto name is `SessionStartEvent` of `session-events/pb`.
 */
export { SessionStartEvent, SessionEndEvent, UserInfo, EnvironmentInfo } from "./session/models.js";
export type { Model, SafeResult, SessionStartInit, SessionEndInit } from "./session/models.js";
export {
  getAllSchemas,
  getSchema,
  contractVersions,
  validateEventJson,
  exportSchemasToFile,
  EXPORT_FORMATS,
  type ExportFormat,
} from "./session/registry.js";
export {
  SessionEventsError,
  ERROR_CODES,
  type ErrorCode,
  type SessionEventsErrorOptions,
  type ValidationIssue,
} from "./errors.js";
export { ValidationError } from "./contract/errors.js";
export type {
  JsonObject,
  JsonValue,
  SessionStartEventJson,
  SessionEndEventJson,
  UserInfoJson,
  EnvironmentInfoJson,
  VrpEventJson,
} from "./contract/types.js";
export { CURRENT_EVENT_VERSION as SESSION_EVENT_VERSION } from "./contract/versions.js";
export { checkContract, type CheckReport } from "./contract/evolution/check.js";
export { CHANGE_RULES, type Change, type ChangeRule, type Bump } from "./contract/evolution/rules.js";
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

// The VRP domain: the state machine, its tables, and producer dialect maps.
export {
  mapVrpLine,
  loadVrpDialectMap,
  validateVrpDialectMap,
  VRP_DIALECT_MAP_SCHEMA,
  type VrpDialectMap,
  type VrpLineResult,
  type VrpCaseRule,
} from "./vrp/dialect.js";
export { VrpStateMachine, type SessionSnapshot } from "./vrp/machine.js";
export { TRANSITIONS, OBSERVATIONS, type Transition } from "./vrp/transitions.js";
export { AUDIT_RULES, DEFAULT_POLICY, type AuditRule, type VrpPolicy } from "./vrp/audits.js";
