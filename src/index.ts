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

// The collector and its client.
export { SessionEventEmitter, EmitError, SpoolError, type EmitterOptions, type EmitterStats, type MetricsRegistry, type TlsOptions } from "./client/emitter.js";
export { DEFAULT_RETRY, type RetryPolicy } from "./client/retry.js";
export { CircuitOpenError } from "./client/circuit-breaker.js";
export { startServer, type RunningServer } from "./server/server.js";
export { parseServeConfig, type ServerConfig } from "./server/config.js";
export { createLogger, type Logger, type LogLevel } from "./server/logger.js";
export { fieldViolations } from "./server/rich-error.js";
export { SegmentLog, type SegmentLogOptions, type DamageReport } from "./store/segment-log.js";
export type { EventLog, LogRecord } from "./store/event-log.js";
export { LogClosedError, LogCorruptionError, LogFailedError, LogLockedError } from "./store/errors.js";
export { verifyLog, repairLog, type LogReport, type RepairResult, type SegmentReport, type DamageFound } from "./store/repair.js";
export { upgradeLog } from "./store/upgrade.js";

// VRP streams.
export { VrpProducer, VrpRejectedError, subscribeVrp, type VrpProducerOptions, type SubscribeOptions, type VrpAck } from "./client/vrp.js";
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

// Archives: the protobuf log <-> JSON Lines.
export * from "./archive/index.js";
