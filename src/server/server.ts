/**
 * The collector on the embedded file log: open (and recover) the log, open
 * the state store and replay the log's tail into it, then serve
 * (serve-collector.ts). A JetStream replica starts in replica-server.ts.
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { Collector, checkAcceptedVersions } from "../collector/collector.js";
import { openState, type OpenedState } from "../state/open-state.js";
import { VrpHub } from "../collector/vrp-hub.js";
import { SegmentLog } from "../store/segment-log.js";
import type { ServerConfig } from "./server-config.js";
import { SessionEventsError } from "../errors.js";
import { retentionEnabled, startRetention, type RetentionTimer } from "./retention.js";
import type { Logger } from "./logger.js";
import { BUILT_IN_CONTRACT } from "../bridge/served.js";
import type { HealthStatus } from "./health.js";
import { OpenStreams } from "./open-streams.js";
import type { CollectorMetrics } from "../metrics/collector-metrics.js";
import { collectorMetrics, serveCollector, SESSION_SERVICE_NAME, VRP_SERVICE_NAME } from "./serve-collector.js";

export { SESSION_SERVICE_NAME, VRP_SERVICE_NAME } from "./serve-collector.js";

/** A started collector. */
export interface RunningServer {
  /** The port bound (useful with port 0). */
  readonly port: number;
  readonly collector: Collector;
  readonly vrp: VrpHub;
  /** The event log (for metrics and tests). */
  readonly log: SegmentLog;
  /** The retention timer, when retention is on. */
  readonly retention: RetentionTimer | undefined;
  /** The Prometheus endpoint's port, with --metrics-address. */
  readonly metricsPort: number | undefined;
  /** Stop taking calls, let in-flight ones finish within the grace period, force the rest, close the log. */
  shutdown(graceMs?: number): Promise<void>;
}

/** What the embedding program is told of. */
export interface ServerHooks {
  /**
   * The event log failed (a write or fsync): nothing more can be stored until
   * a restart, whose recovery cuts what was half written. `serve` shuts down
   * and exits 1 so that a supervisor restarts it.
   */
  onFatal?: (error: Error) => void;
  /**
   * The last log sequence the derived state has durably stored (default: the
   * state store's last checkpoint): retention removes nothing after it, so a
   * restart never needs a removed record. Tests may narrow it.
   */
  durablyApplied?: () => bigint;
}

/**
 * Start the collector: open (and recover) the event log, open the state store and replay the log's tail into it,
 * serve SessionService, VrpStreamService, health and reflection.
 *
 * @example
 * ```ts
 * import { startServer, parseServeConfig, createLogger } from "session-events/server";
 * const server = await startServer(parseServeConfig(["--address", "127.0.0.1:0", "--data-dir", "./data"]), createLogger("warn"));
 * await server.shutdown();
 * ```
 */
export async function startServer(
  config: ServerConfig,
  logger: Logger,
  given: ServerHooks = {},
): Promise<RunningServer> {
  // A collector serves the contract it was built with (proto/, gen/, the released schemas): a
  // contract whose protobuf changed needs generated code of its own, so it cannot be loaded at run time.
  const contract = BUILT_IN_CONTRACT;
  // Checked before the log is opened: a wrong window must not cost a recovery.
  const acceptVersions = checkAcceptedVersions(contract, config.acceptVersions);
  let health: HealthStatus | undefined;
  const began = performance.now();
  // The log and the state store may both fail (a full disk): the stop is asked for once.
  let fatal = false;
  const hooks: ServerHooks = {
    ...given,
    onFatal: (error) => {
      if (fatal) return;
      fatal = true;
      given.onFatal?.(error);
    },
  };
  // A start that fails leaves no data directory behind that it created itself.
  const created = firstMissing(path.resolve(config.dataDir));
  const removeCreated = () =>
    created ? rm(created, { recursive: true, force: true }).catch(() => {}) : Promise.resolve();
  const streams = new OpenStreams();
  let metrics: CollectorMetrics | undefined;
  let log: SegmentLog;
  try {
    log = await SegmentLog.open({
      dir: config.dataDir,
      segmentBytes: config.segmentBytes,
      onDamage: (report) =>
        logger.warn("event log: an unfinished write (a crash tail, never acknowledged) cut off", { ...report }),
      onFailure: (error) => {
        logger.error("event log failed: no more events can be stored until a restart", { error: error.message });
        for (const service of ["", SESSION_SERVICE_NAME, VRP_SERVICE_NAME]) health?.setStatus(service, "NOT_SERVING");
        hooks.onFatal?.(error);
      },
      onSync: (sync) => metrics?.logSynced(sync.records, sync.seconds, sync.onLoop),
      writeLoneBatchesOnLoop: true, // the collector's loop is the log's own (docs/storage.md, "Where the write runs")
    });
  } catch (e) {
    await removeCreated();
    throw dataDirError(config.dataDir, e);
  }
  const logOpenMs = Math.round(performance.now() - began);
  let opened: OpenedState;
  try {
    opened = await openState({
      dataDir: config.dataDir,
      log,
      checkpointRecords: config.checkpointRecords,
      checkpointIntervalMs: config.checkpointIntervalMs,
      onWarning: (message, details) => logger.warn(message, details),
    });
  } catch (e) {
    await log.close();
    await removeCreated();
    throw e;
  }
  const { state } = opened;
  logger.info("state store opened", {
    checkpoint: opened.checkpoint,
    replayed: opened.replayed,
    rebuilt: opened.rebuilt ?? null,
    logOpenMs,
    stateOpenMs: Math.round(performance.now() - began) - logOpenMs,
  });
  state.follow(log, (error) => {
    logger.error("state store failed: restart to rebuild it from its last checkpoint", { error: error.message });
    for (const service of ["", SESSION_SERVICE_NAME, VRP_SERVICE_NAME]) health?.setStatus(service, "NOT_SERVING");
    hooks.onFatal?.(error);
  });
  state.onCheckpoint((applied) => metrics?.maintenance.checkpointed(applied));
  const collector = new Collector(log, state, config.maxMessageBytes, { contract, acceptVersions });
  const hub = new VrpHub(log, state, {
    maxRecoveryWindowMs: config.maxRecoveryWindowMs,
    maxSwitchesPerMinute: config.maxSwitchesPerMinute,
  });
  const failStart = async (e: unknown): Promise<never> => {
    await collector.close();
    await removeCreated();
    throw e;
  };
  // Before the first append (the policy record below) and before retention starts: every durable batch and every pass is counted.
  metrics = collectorMetrics(config, { collector, streams, lastSequence: () => log.lastSequence });
  const policy = await hub.recordPolicy();
  if (policy.changed && policy.previous) {
    logger.warn("VRP policy changed: it applies to new events only; stored outcomes stand", {
      previous: policy.previous,
      now: hub.machine.policy,
    });
  }
  const retention = retentionEnabled(config.retention)
    ? startRetention(
        config.retention,
        {
          log,
          safeThrough: hooks.durablyApplied ?? (() => state.durable),
          logger,
          onPass: (result) => metrics?.maintenance.retentionPassed(result),
        },
        config.retention.intervalMs,
      )
    : undefined;
  logger.info("event log opened", {
    dataDir: path.resolve(config.dataDir),
    lastSequence: log.lastSequence,
    sessions: collector.sessionCount,
    acceptVersions: collector.acceptedVersions,
  });
  const served = await serveCollector(config, logger, {
    contract,
    collector,
    hub,
    vrpLog: log,
    streams,
    metrics,
    lastSequence: () => log.lastSequence,
    failStart: async (e) => {
      await retention?.stop();
      return failStart(e);
    },
    close: async () => {
      await retention?.stop(); // a pass in progress finishes (its archive and removal) before the log closes
      await collector.close(); // pending appends are flushed before the log closes
    },
  });
  health = served.health;
  return {
    port: served.port,
    collector,
    vrp: hub,
    log,
    retention,
    metricsPort: served.metricsPort,
    shutdown: served.shutdown,
  };
}

/** The first directory of `dir`'s path that does not exist yet (what opening it would create), if any. */
function firstMissing(dir: string): string | undefined {
  let missing: string | undefined;
  for (let at = dir; !existsSync(at); at = path.dirname(at)) {
    missing = at;
    if (path.dirname(at) === at) break;
  }
  return missing;
}

/** A data directory that cannot be made or used, named by its flag (not only by errno and a path). */
function dataDirError(dataDir: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  const why: Record<string, string> = {
    ENOTDIR: "a part of its path is a file, not a directory",
    EACCES: "permission denied",
    EPERM: "permission denied",
    EROFS: "a read-only file system",
    EEXIST: "it exists and is not a directory",
    ENOSPC: "no space left on the device",
  };
  if (code === undefined || !Object.hasOwn(why, code)) return e;
  return new SessionEventsError(`--data-dir ${dataDir}: cannot use it: ${why[code]} (${(e as Error).message})`, {
    code: "FAILED_PRECONDITION",
    cause: e,
  });
}
