/** What the collector server needs to start: the checked configuration (the `serve` command builds it from flags and environment). */
import type { LogLevel } from "./logger.js";

/** The collector's checked configuration; `parseServeConfig` (cli/) builds it from flags and environment. */
export interface ServerConfig {
  address: string;
  dataDir: string;
  /** The bearer token, if auth is on. */
  token: string | undefined;
  tls: { cert: Buffer; key: Buffer; clientCa: Buffer | undefined } | undefined;
  logLevel: LogLevel;
  shutdownGraceMs: number;
  maxMessageBytes: number;
  /** Largest event in a request (its protobuf bytes): larger ones are refused before they are decoded. */
  maxEventBytes: number;
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  segmentBytes: number;
  maxRecoveryWindowMs: number;
  maxSwitchesPerMinute: number;
  /** Event versions accepted (undefined: the current one only). */
  acceptVersions?: readonly string[];
  /** Retention (docs/storage.md): undefined limits are off; both off, nothing is removed. */
  retention: { maxAgeMs: number | undefined; maxBytes: number | undefined; archiveDir: string | undefined; intervalMs: number };
}
