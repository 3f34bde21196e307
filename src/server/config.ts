/**
 * The collector's configuration: one table of options, each settable by flag
 * or environment variable (the flag wins), with its default and its rule. The
 * table drives parsing, validation, --help and the README's table alike.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { UsageError } from "../cli/usage-error.js";
import { LOG_LEVELS, type LogLevel } from "./logger.js";

interface OptionSpec {
  readonly flag: string;
  readonly env: string;
  readonly kind: "string" | "int" | "file" | "level";
  readonly default?: string;
  readonly min?: number;
  readonly max?: number;
  readonly help: string;
}

export const SERVE_OPTIONS = {
  address: { flag: "address", env: "SESSION_EVENTS_ADDRESS", kind: "string", default: "127.0.0.1:50051", help: "host:port to listen on (port 0 picks a free one)" },
  dataDir: { flag: "data-dir", env: "SESSION_EVENTS_DATA_DIR", kind: "string", default: "./session-events-data", help: "directory of the durable event log" },
  token: { flag: "token", env: "SESSION_EVENTS_TOKEN", kind: "string", help: "require 'authorization: Bearer <token>' on every call but health checks" },
  tokenFile: { flag: "token-file", env: "SESSION_EVENTS_TOKEN_FILE", kind: "file", help: "read the token from a file (keeps it out of the process list)" },
  tlsCert: { flag: "tls-cert", env: "SESSION_EVENTS_TLS_CERT", kind: "file", help: "PEM certificate chain: serve TLS (with --tls-key)" },
  tlsKey: { flag: "tls-key", env: "SESSION_EVENTS_TLS_KEY", kind: "file", help: "PEM private key of --tls-cert" },
  tlsClientCa: { flag: "tls-client-ca", env: "SESSION_EVENTS_TLS_CLIENT_CA", kind: "file", help: "PEM CA: require client certificates it signed (mutual TLS)" },
  logLevel: { flag: "log-level", env: "SESSION_EVENTS_LOG_LEVEL", kind: "level", default: "info", help: `one of ${LOG_LEVELS.join(", ")}` },
  shutdownGraceMs: { flag: "shutdown-grace-ms", env: "SESSION_EVENTS_SHUTDOWN_GRACE_MS", kind: "int", default: "10000", min: 0, max: 600000, help: "on SIGINT/SIGTERM, how long in-flight calls may finish before they are cut" },
  maxMessageBytes: { flag: "max-message-bytes", env: "SESSION_EVENTS_MAX_MESSAGE_BYTES", kind: "int", default: "4194304", min: 1024, max: 268435456, help: "largest message received or sent" },
  maxEventBytes: { flag: "max-event-bytes", env: "SESSION_EVENTS_MAX_EVENT_BYTES", kind: "int", default: "262144", min: 1024, max: 268435456, help: "largest event (protobuf bytes), refused before it is decoded; at most --max-message-bytes (not given: the smaller of the two)" },
  keepaliveTimeMs: { flag: "keepalive-time-ms", env: "SESSION_EVENTS_KEEPALIVE_TIME_MS", kind: "int", default: "60000", min: 1000, max: 86400000, help: "ping an idle connection after this long" },
  keepaliveTimeoutMs: { flag: "keepalive-timeout-ms", env: "SESSION_EVENTS_KEEPALIVE_TIMEOUT_MS", kind: "int", default: "20000", min: 1000, max: 600000, help: "close a connection whose ping is not answered in this time" },
  maxRecoveryWindowMs: { flag: "max-recovery-window-ms", env: "SESSION_EVENTS_MAX_RECOVERY_WINDOW_MS", kind: "int", default: "30000", min: 1, max: 86400000, help: "VRP policy: longest a session may stay out of ATTACHED (event time)" },
  maxSwitchesPerMinute: { flag: "max-switches-per-minute", env: "SESSION_EVENTS_MAX_SWITCHES_PER_MINUTE", kind: "int", default: "6", min: 1, max: 100000, help: "VRP policy: most transport switches a session may make in a minute" },
  checkpointRecords: { flag: "checkpoint-records", env: "SESSION_EVENTS_CHECKPOINT_RECORDS", kind: "int", default: "10000", min: 1, max: 10000000, help: "commit the state store (a checkpoint) after this many log records applied" },
  checkpointInterval: { flag: "checkpoint-interval", env: "SESSION_EVENTS_CHECKPOINT_INTERVAL", kind: "int", default: "1000", min: 10, max: 3600000, help: "... or after this many milliseconds (a restart replays the log after the last checkpoint)" },
  segmentBytes: { flag: "segment-bytes", env: "SESSION_EVENTS_SEGMENT_BYTES", kind: "int", default: "67108864", min: 4096, max: 1073741824, help: "start a new log segment after this size" },
} as const satisfies Record<string, OptionSpec>;

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
  /** Checkpoint the state store after this many records... */
  checkpointRecords: number;
  /** ... or this many milliseconds. */
  checkpointIntervalMs: number;
  maxRecoveryWindowMs: number;
  maxSwitchesPerMinute: number;
}

/** Flags and environment -> a checked configuration; every mistake names its flag and rule. */
export function parseServeConfig(args: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const specs = Object.values(SERVE_OPTIONS) as OptionSpec[];
  const { values, positionals } = parseArgs({
    args,
    options: Object.fromEntries(specs.map((s) => [s.flag, { type: "string" as const }])),
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  const raw = (s: OptionSpec): string | undefined => (values[s.flag] as string | undefined) ?? (env[s.env] || undefined) ?? s.default;
  const where = (s: OptionSpec) => (values[s.flag] !== undefined ? `--${s.flag}` : env[s.env] ? s.env : `--${s.flag}`);

  const int = (s: OptionSpec): number => {
    const text = raw(s)!;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < s.min! || n > s.max!) throw new UsageError(`${where(s)}: must be an integer from ${s.min} to ${s.max} (got ${JSON.stringify(text)})`);
    return n;
  };
  const file = (s: OptionSpec): Buffer | undefined => {
    const p = raw(s);
    if (p === undefined) return undefined;
    try {
      return readFileSync(p);
    } catch (e) {
      throw new UsageError(`${where(s)}: cannot read ${JSON.stringify(p)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };

  const o = SERVE_OPTIONS;
  const address = raw(o.address)!;
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(address) || Number(address.split(":").pop()) > 65535) {
    throw new UsageError(`${where(o.address)}: must be host:port, e.g. 127.0.0.1:50051 or [::1]:50051 (got ${JSON.stringify(address)})`);
  }
  const logLevel = raw(o.logLevel)!;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UsageError(`${where(o.logLevel)}: must be one of ${LOG_LEVELS.join(", ")} (got ${JSON.stringify(logLevel)})`);

  const inlineToken = raw(o.token);
  const tokenFile = file(o.tokenFile);
  if (inlineToken !== undefined && tokenFile !== undefined) throw new UsageError("--token and --token-file: give one, not both");
  const token = inlineToken ?? tokenFile?.toString("utf8").trim();
  if (token !== undefined && token.length < 8) throw new UsageError(`${tokenFile ? where(o.tokenFile) : where(o.token)}: a token must have at least 8 characters`);

  const cert = file(o.tlsCert);
  const key = file(o.tlsKey);
  const clientCa = file(o.tlsClientCa);
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--tls-cert and --tls-key: give both or neither");
  if (clientCa && !cert) throw new UsageError("--tls-client-ca: needs --tls-cert and --tls-key (mutual TLS is TLS first)");

  const maxMessageBytes = int(o.maxMessageBytes);
  // Not given: the default, or the message limit if that is smaller (a small
  // --max-message-bytes alone must not become a usage error).
  const eventBytesGiven = values[o.maxEventBytes.flag] !== undefined || Boolean(env[o.maxEventBytes.env]);
  const maxEventBytes = eventBytesGiven ? int(o.maxEventBytes) : Math.min(int(o.maxEventBytes), maxMessageBytes);
  if (maxEventBytes > maxMessageBytes) {
    throw new UsageError(`${where(o.maxEventBytes)}: must be at most --max-message-bytes (${maxMessageBytes}); got ${maxEventBytes}`);
  }

  return {
    address,
    dataDir: raw(o.dataDir)!,
    token,
    tls: cert && key ? { cert, key, clientCa } : undefined,
    logLevel: logLevel as LogLevel,
    shutdownGraceMs: int(o.shutdownGraceMs),
    maxMessageBytes,
    maxEventBytes,
    keepaliveTimeMs: int(o.keepaliveTimeMs),
    keepaliveTimeoutMs: int(o.keepaliveTimeoutMs),
    segmentBytes: int(o.segmentBytes),
    checkpointRecords: int(o.checkpointRecords),
    checkpointIntervalMs: int(o.checkpointInterval),
    maxRecoveryWindowMs: int(o.maxRecoveryWindowMs),
    maxSwitchesPerMinute: int(o.maxSwitchesPerMinute),
  };
}

/** The options as a help text. */
export function serveOptionsHelp(): string {
  return (Object.values(SERVE_OPTIONS) as OptionSpec[])
    .map((s) => `  --${s.flag} <${s.kind === "int" ? "n" : s.kind === "file" ? "path" : "value"}>`.padEnd(34) + `${s.help}${s.default ? ` [${s.default}]` : ""}\n${"".padEnd(34)}env ${s.env}`)
    .join("\n");
}
