/**
 * session-events/server: the collector as a gRPC server (SessionService,
 * VrpStreamService, health, reflection), its configuration and logger.
 */
export {
  startServer,
  SESSION_SERVICE_NAME,
  VRP_SERVICE_NAME,
  type RunningServer,
  type ServerHooks,
} from "../server/server.js";
export type { ServerConfig } from "../server/server-config.js";
export { parseServeConfig, SERVE_OPTIONS } from "../cli/serve-config.js";
export { createLogger, LOG_LEVELS, type Logger, type LogLevel } from "../server/logger.js";
export { CollectorError, type CollectorErrorCode } from "../collector/errors.js";
