/**
 * The collector's configuration: one table of options, each settable by flag
 * or environment variable (the flag wins), with its default and its rule. The
 * table drives parsing, validation, --help and the README's table alike.
 */
import { statSync } from "node:fs";
import { parseArgs } from "node:util";
import { UsageError } from "./usage-error.js";
import { natsAccess, natsServerList, optionReader, type NatsAccessSpecs, type OptionReader } from "./nats-flags.js";
import { LOG_LEVELS, type LogLevel } from "../server/logger.js";
import type { ServerConfig } from "../server/server-config.js";
import { RELEASED, VERSION_PATTERN } from "../contract/versions.js";

export type { ServerConfig } from "../server/server-config.js";

interface OptionSpec {
  readonly flag: string;
  readonly env: string;
  readonly kind: "string" | "int" | "file" | "level" | "list" | "duration" | "size";
  readonly default?: string;
  readonly min?: number;
  readonly max?: number;
  readonly help: string;
}

import type { Engine, NatsConfig } from "../server/server-config.js";

export const ENGINES = ["file", "jetstream"] as const satisfies readonly Engine[];

/** The collector's options: flag, environment variable, default, limits and help of each. */
export const SERVE_OPTIONS = {
  address: {
    flag: "address",
    env: "SESSION_EVENTS_ADDRESS",
    kind: "string",
    default: "127.0.0.1:50051",
    help: "host:port to listen on (port 0 picks a free one)",
  },
  dataDir: {
    flag: "data-dir",
    env: "SESSION_EVENTS_DATA_DIR",
    kind: "string",
    default: "./session-events-data",
    help: "directory of the durable event log",
  },
  token: {
    flag: "token",
    env: "SESSION_EVENTS_TOKEN",
    kind: "string",
    help: "require 'authorization: Bearer <token>' on every call but health checks",
  },
  tokenFile: {
    flag: "token-file",
    env: "SESSION_EVENTS_TOKEN_FILE",
    kind: "file",
    help: "read the token from a file (keeps it out of the process list)",
  },
  tlsCert: {
    flag: "tls-cert",
    env: "SESSION_EVENTS_TLS_CERT",
    kind: "file",
    help: "PEM certificate chain: serve TLS (with --tls-key)",
  },
  tlsKey: { flag: "tls-key", env: "SESSION_EVENTS_TLS_KEY", kind: "file", help: "PEM private key of --tls-cert" },
  tlsClientCa: {
    flag: "tls-client-ca",
    env: "SESSION_EVENTS_TLS_CLIENT_CA",
    kind: "file",
    help: "PEM CA: require client certificates it signed (mutual TLS)",
  },
  logLevel: {
    flag: "log-level",
    env: "SESSION_EVENTS_LOG_LEVEL",
    kind: "level",
    default: "info",
    help: `one of ${LOG_LEVELS.join(", ")}`,
  },
  shutdownGraceMs: {
    flag: "shutdown-grace-ms",
    env: "SESSION_EVENTS_SHUTDOWN_GRACE_MS",
    kind: "int",
    default: "10000",
    min: 0,
    max: 600000,
    help: "on SIGINT/SIGTERM, how long in-flight calls may finish before they are cut",
  },
  maxMessageBytes: {
    flag: "max-message-bytes",
    env: "SESSION_EVENTS_MAX_MESSAGE_BYTES",
    kind: "int",
    default: "4194304",
    min: 1024,
    max: 268435456,
    help: "largest message received or sent",
  },
  maxEventBytes: {
    flag: "max-event-bytes",
    env: "SESSION_EVENTS_MAX_EVENT_BYTES",
    kind: "int",
    default: "262144",
    min: 1024,
    max: 268435456,
    help: "largest event (protobuf bytes), refused before it is decoded; at most --max-message-bytes (not given: the smaller of the two)",
  },
  keepaliveTimeMs: {
    flag: "keepalive-time-ms",
    env: "SESSION_EVENTS_KEEPALIVE_TIME_MS",
    kind: "int",
    default: "60000",
    min: 1000,
    max: 86400000,
    help: "ping an idle connection after this long",
  },
  keepaliveTimeoutMs: {
    flag: "keepalive-timeout-ms",
    env: "SESSION_EVENTS_KEEPALIVE_TIMEOUT_MS",
    kind: "int",
    default: "20000",
    min: 1000,
    max: 600000,
    help: "close a connection whose ping is not answered in this time",
  },
  maxRecoveryWindowMs: {
    flag: "max-recovery-window-ms",
    env: "SESSION_EVENTS_MAX_RECOVERY_WINDOW_MS",
    kind: "int",
    default: "30000",
    min: 1,
    max: 86400000,
    help: "VRP policy: longest a session may stay out of ATTACHED (event time)",
  },
  maxSwitchesPerMinute: {
    flag: "max-switches-per-minute",
    env: "SESSION_EVENTS_MAX_SWITCHES_PER_MINUTE",
    kind: "int",
    default: "6",
    min: 1,
    max: 100000,
    help: "VRP policy: most transport switches a session may make in a minute",
  },
  metricsAddress: {
    flag: "metrics-address",
    env: "SESSION_EVENTS_METRICS_ADDRESS",
    kind: "string",
    help: "host:port of a Prometheus endpoint (GET /metrics); off when not given",
  },
  acceptVersions: {
    flag: "accept-versions",
    env: "SESSION_EVENTS_ACCEPT_VERSIONS",
    kind: "list",
    default: RELEASED.current,
    help: `event versions accepted, comma-separated (a transition window: each event is validated against its own version's schema); must include the current version; known: ${RELEASED.versions.join(", ")}`,
  },
  retentionAge: {
    flag: "retention-age",
    env: "SESSION_EVENTS_RETENTION_AGE",
    kind: "duration",
    help: "remove closed log segments last written longer ago than this (e.g. 30d, 12h); see docs/storage.md",
  },
  retentionBytes: {
    flag: "retention-bytes",
    env: "SESSION_EVENTS_RETENTION_BYTES",
    kind: "size",
    help: "remove the oldest closed log segments while the log is larger than this (e.g. 50GiB)",
  },
  archiveDir: {
    flag: "archive-dir",
    env: "SESSION_EVENTS_ARCHIVE_DIR",
    kind: "string",
    help: "before removing a segment, export it to DIR/<first>-<last>.jsonl.gz (verified); a failed export keeps it",
  },
  retentionIntervalMs: {
    flag: "retention-interval-ms",
    env: "SESSION_EVENTS_RETENTION_INTERVAL_MS",
    kind: "int",
    default: "60000",
    min: 100,
    max: 86400000,
    help: "how often retention looks for segments to remove",
  },
  engine: {
    flag: "engine",
    env: "SESSION_EVENTS_ENGINE",
    kind: "string",
    default: "file",
    help: `where the log lives: ${ENGINES.join(" or ")} (jetstream: NATS JetStream, see docs/scaling.md)`,
  },
  natsServers: {
    flag: "nats-servers",
    env: "SESSION_EVENTS_NATS_SERVERS",
    kind: "string",
    help: "--engine jetstream: comma-separated nats://host:port seeds of the NATS cluster",
  },
  natsStreamReplicas: {
    flag: "nats-stream-replicas",
    env: "SESSION_EVENTS_NATS_STREAM_REPLICAS",
    kind: "int",
    default: "1",
    min: 1,
    max: 5,
    help: "--engine jetstream: replicas of every stream and bucket (3 on a 3-node cluster)",
  },
  natsPrefix: {
    flag: "nats-prefix",
    env: "SESSION_EVENTS_NATS_PREFIX",
    kind: "string",
    default: "session-events",
    help: "--engine jetstream: prefix of every stream, subject and bucket",
  },
  natsCreds: {
    flag: "nats-creds",
    env: "SESSION_EVENTS_NATS_CREDS",
    kind: "file",
    help: "--engine jetstream: a NATS .creds file (JWT and nkey seed)",
  },
  natsTokenFile: {
    flag: "nats-token-file",
    env: "SESSION_EVENTS_NATS_TOKEN_FILE",
    kind: "file",
    help: "--engine jetstream: read the NATS token from a file",
  },
  natsTlsCa: {
    flag: "nats-tls-ca",
    env: "SESSION_EVENTS_NATS_TLS_CA",
    kind: "file",
    help: "--engine jetstream: PEM CA of the NATS servers' certificates (turns TLS on)",
  },
  checkpointRecords: {
    flag: "checkpoint-records",
    env: "SESSION_EVENTS_CHECKPOINT_RECORDS",
    kind: "int",
    default: "10000",
    min: 1,
    max: 10000000,
    help: "commit the state store (a checkpoint) after this many log records applied",
  },
  checkpointInterval: {
    flag: "checkpoint-interval",
    env: "SESSION_EVENTS_CHECKPOINT_INTERVAL",
    kind: "int",
    default: "1000",
    min: 10,
    max: 3600000,
    help: "... or after this many milliseconds (a restart replays the log after the last checkpoint)",
  },
  segmentBytes: {
    flag: "segment-bytes",
    env: "SESSION_EVENTS_SEGMENT_BYTES",
    kind: "int",
    default: "67108864",
    min: 4096,
    max: 1073741824,
    help: "start a new log segment after this size",
  },
} as const satisfies Record<string, OptionSpec>;

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const SIZE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
};

/** "30d" -> milliseconds; undefined if it is not a positive duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(text.trim());
  const ms = m ? Number(m[1]) * DURATION_UNITS[m[2]!]! : NaN;
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}

/** "50GiB" -> bytes; undefined if it is not a positive size. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)\s*([KMGT]i?B|B)?$/.exec(text.trim());
  const unit = m ? SIZE_UNITS[m[2] ?? ""] : undefined;
  const bytes = m && unit ? Number(m[1]) * unit : NaN;
  return bytes > 0 && Number.isSafeInteger(bytes) ? bytes : undefined;
}

/**
 * Flags and environment -> a checked configuration; every mistake names its flag and rule.
 * @example
 * ```ts
 * import { parseServeConfig } from "session-events/server";
 * const config = parseServeConfig(["--address", "127.0.0.1:0", "--data-dir", "./data"]);
 * ```
 */
export function parseServeConfig(args: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const specs = Object.values(SERVE_OPTIONS) as OptionSpec[];
  const { values, positionals } = parseArgs({
    args,
    options: Object.fromEntries(specs.map((s) => [s.flag, { type: "string" as const }])),
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  const reader = optionReader(values, env);
  const { raw, where, file } = reader;

  const int = (s: OptionSpec): number => {
    const text = raw(s)!;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < s.min! || n > s.max!)
      throw new UsageError(`${where(s)}: must be an integer from ${s.min} to ${s.max} (got ${JSON.stringify(text)})`);
    return n;
  };

  const optional = (s: OptionSpec, parse: (text: string) => number | undefined, rule: string): number | undefined => {
    const text = raw(s);
    if (text === undefined) return undefined;
    const value = parse(text);
    if (value === undefined) throw new UsageError(`${where(s)}: must be ${rule} (got ${JSON.stringify(text)})`);
    return value;
  };

  const o = SERVE_OPTIONS;
  const hostPort = (s: OptionSpec, example: string): string | undefined => {
    const text = raw(s);
    if (text === undefined) return undefined;
    if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(text) || Number(text.split(":").pop()) > 65535) {
      throw new UsageError(
        `${where(s)}: must be host:port, e.g. 127.0.0.1:${example} or [::1]:${example} (got ${JSON.stringify(text)})`,
      );
    }
    return text;
  };
  const address = hostPort(o.address, "50051")!;
  const metricsAddress = hostPort(o.metricsAddress, "9464");
  const logLevel = raw(o.logLevel)!;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel))
    throw new UsageError(
      `${where(o.logLevel)}: must be one of ${LOG_LEVELS.join(", ")} (got ${JSON.stringify(logLevel)})`,
    );

  const inlineToken = raw(o.token);
  const tokenFile = file(o.tokenFile);
  if (inlineToken !== undefined && tokenFile !== undefined)
    throw new UsageError("--token and --token-file: give one, not both");
  const token = inlineToken ?? tokenFile?.toString("utf8").trim();
  // A header value carries visible ASCII only (grpc-js refuses the rest, and
  // spaces at either end are stripped on the way): any other token could never match.
  if (token !== undefined && !/^[\x21-\x7e]{8,}$/.test(token)) {
    throw new UsageError(
      `${tokenFile ? where(o.tokenFile) : where(o.token)}: a token must be at least 8 visible ASCII characters, without spaces`,
    );
  }

  const cert = file(o.tlsCert);
  const key = file(o.tlsKey);
  const clientCa = file(o.tlsClientCa);
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError("--tls-cert and --tls-key: give both or neither");
  if (clientCa && !cert)
    throw new UsageError("--tls-client-ca: needs --tls-cert and --tls-key (mutual TLS is TLS first)");

  const maxMessageBytes = int(o.maxMessageBytes);
  // Not given: the default, or the message limit if that is smaller (a small
  // --max-message-bytes alone must not become a usage error).
  const eventBytesGiven = values[o.maxEventBytes.flag] !== undefined || Boolean(env[o.maxEventBytes.env]);
  const maxEventBytes = eventBytesGiven ? int(o.maxEventBytes) : Math.min(int(o.maxEventBytes), maxMessageBytes);
  if (maxEventBytes > maxMessageBytes) {
    throw new UsageError(
      `${where(o.maxEventBytes)}: must be at most --max-message-bytes (${maxMessageBytes}); got ${maxEventBytes}`,
    );
  }

  const retention = {
    maxAgeMs: optional(
      o.retentionAge,
      parseDuration,
      "a positive duration: a whole number and a unit (ms, s, m, h, d, w), e.g. 30d or 12h",
    ),
    maxBytes: optional(
      o.retentionBytes,
      parseSize,
      "a positive size: a whole number of bytes, or with a unit (KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 50GiB",
    ),
    archiveDir: raw(o.archiveDir),
    intervalMs: int(o.retentionIntervalMs),
  };
  if (retention.archiveDir !== undefined && retention.maxAgeMs === undefined && retention.maxBytes === undefined) {
    throw new UsageError(
      `${where(o.archiveDir)}: archives what retention removes, so it needs --retention-age or --retention-bytes`,
    );
  }
  if (retention.archiveDir !== undefined && !isDirectory(retention.archiveDir)) {
    throw new UsageError(
      `${where(o.archiveDir)}: must be an existing directory (got ${JSON.stringify(retention.archiveDir)})`,
    );
  }

  const engine = raw(o.engine)!;
  if (!(ENGINES as readonly string[]).includes(engine))
    throw new UsageError(`${where(o.engine)}: must be one of ${ENGINES.join(", ")} (got ${JSON.stringify(engine)})`);
  const nats = natsConfig(engine as Engine, values, env, reader, int);

  return {
    engine: engine as Engine,
    nats,
    acceptVersions: acceptVersions(raw(o.acceptVersions)!, where(o.acceptVersions)),
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
    maxRecoveryWindowMs: int(o.maxRecoveryWindowMs),
    maxSwitchesPerMinute: int(o.maxSwitchesPerMinute),
    metricsAddress,
    checkpointRecords: int(o.checkpointRecords),
    checkpointIntervalMs: int(o.checkpointInterval),
    retention,
  };
}

/** "1.0,1.1" -> ["1.0", "1.1"]: versions of this build's contract, each once, the current one among them. */
function acceptVersions(text: string, where: string): string[] {
  const versions = text.split(",").map((v) => v.trim());
  for (const v of versions) {
    if (!VERSION_PATTERN.test(v))
      throw new UsageError(
        `${where}: ${JSON.stringify(v)} is not a version MAJOR.MINOR, e.g. 1.0 (got ${JSON.stringify(text)})`,
      );
    if (!RELEASED.has(v))
      throw new UsageError(
        `${where}: ${v} is not a version of this build's contract (known versions: ${RELEASED.versions.join(", ")})`,
      );
  }
  const twice = versions.find((v, i) => versions.indexOf(v) !== i);
  if (twice) throw new UsageError(`${where}: ${twice} is listed twice`);
  if (!versions.includes(RELEASED.current))
    throw new UsageError(
      `${where}: must include the current version ${RELEASED.current} (new emitters send it); got ${JSON.stringify(text)}`,
    );
  return versions;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

const VALUE_NAMES: Readonly<Record<OptionSpec["kind"], string>> = {
  int: "n",
  file: "path",
  string: "value",
  level: "value",
  list: "v,v",
  duration: "duration",
  size: "size",
};

/** The NATS flags: required with --engine jetstream, refused without it. */
function natsConfig(
  engine: Engine,
  values: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  reader: OptionReader,
  int: (s: OptionSpec) => number,
): NatsConfig | undefined {
  const o = SERVE_OPTIONS;
  const { raw, where } = reader;
  const natsSpecs = [
    o.natsServers,
    o.natsStreamReplicas,
    o.natsPrefix,
    o.natsCreds,
    o.natsTokenFile,
    o.natsTlsCa,
  ] as OptionSpec[];
  if (engine !== "jetstream") {
    const given = natsSpecs.find((s) => values[s.flag] !== undefined || env[s.env]);
    if (given) throw new UsageError(`${where(given)}: only with --engine jetstream (the engine is ${engine})`);
    return undefined;
  }
  const list = raw(o.natsServers);
  if (!list)
    throw new UsageError(
      `--nats-servers: required with --engine jetstream (e.g. nats://10.0.0.1:4222,nats://10.0.0.2:4222)`,
    );
  const servers = natsServerList(list, where(o.natsServers));
  return { servers, replicas: int(o.natsStreamReplicas), ...natsAccess(reader, NATS_ACCESS_OPTIONS) };
}

/** The NATS options `archive export nats://…` takes too (nats-flags.ts). */
export const NATS_ACCESS_OPTIONS: NatsAccessSpecs = {
  prefix: SERVE_OPTIONS.natsPrefix,
  creds: SERVE_OPTIONS.natsCreds,
  tokenFile: SERVE_OPTIONS.natsTokenFile,
  tlsCa: SERVE_OPTIONS.natsTlsCa,
};

/** The options as a help text. */
export function serveOptionsHelp(): string {
  return (Object.values(SERVE_OPTIONS) as OptionSpec[])
    .map(
      (s) =>
        `${`  --${s.flag} <${VALUE_NAMES[s.kind]}>`.padEnd(34)}${s.help}${s.default ? ` [${s.default}]` : ""}\n${"".padEnd(34)}env ${s.env}`,
    )
    .join("\n");
}
