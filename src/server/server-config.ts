/** What the collector server needs to start: the checked configuration (the `serve` command builds it from flags and environment). */
import type { LogLevel } from "./logger.js";

/** Where the log lives: the embedded file log, or NATS JetStream. */
export type Engine = "file" | "jetstream";

/** --engine jetstream: how to reach the NATS cluster. */
export interface NatsConfig {
  readonly servers: readonly string[];
  readonly replicas: number;
  readonly prefix: string;
  readonly creds: Buffer | undefined;
  readonly token: string | undefined;
  readonly tlsCa: Buffer | undefined;
}

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
  /** Where GET /metrics answers in Prometheus text format (off: undefined). */
  metricsAddress: string | undefined;
  /** Checkpoint the state store after this many records... */
  checkpointRecords: number;
  /** ... or this many milliseconds. */
  checkpointIntervalMs: number;
  /** Event versions accepted (undefined: the current one only). */
  acceptVersions?: readonly string[];
  /** Where the log lives (--engine). */
  engine: Engine;
  /** Set with --engine jetstream. */
  nats: NatsConfig | undefined;
  /** Retention (docs/storage.md): undefined limits are off; both off, nothing is removed. */
  retention: {
    maxAgeMs: number | undefined;
    maxBytes: number | undefined;
    archiveDir: string | undefined;
    intervalMs: number;
  };
}
