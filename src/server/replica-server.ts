/**
 * A collector replica on NATS JetStream (--engine jetstream): any number of
 * them share the streams and buckets of one prefix. Each keeps its own
 * state stores in its --data-dir (`sessions/state`, `vrp/state`), applied
 * from the shared streams by a follower (SharedLogApplier), and serves the
 * same gRPC services as the file engine (serve-collector.ts).
 */
import { mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { Collector, checkAcceptedVersions } from "../collector/collector.js";
import { ReplicaVrpHub } from "../collector/replica-vrp-hub.js";
import { JetStreamSessionLog } from "../collector/shared-session-log.js";
import { BUILT_IN_CONTRACT } from "../bridge/served.js";
import type { CollectorMetrics } from "../metrics/collector-metrics.js";
import type { DerivedState } from "../state/derived-state.js";
import { openState } from "../state/open-state.js";
import { SharedLogApplier } from "../state/shared-log-applier.js";
import { JetStreamEngine, type Family } from "../store/jetstream/engine.js";
import { acquireLock, releaseLock } from "../store/lock.js";
import type { HealthStatus } from "./health.js";
import type { Logger } from "./logger.js";
import { OpenStreams } from "./open-streams.js";
import type { ServerHooks } from "./server.js";
import type { ServerConfig } from "./server-config.js";
import { serveCollector, SESSION_SERVICE_NAME, VRP_SERVICE_NAME } from "./serve-collector.js";

/** A started replica. */
export interface RunningReplica {
  readonly port: number;
  readonly collector: Collector;
  readonly vrp: ReplicaVrpHub;
  readonly engine: JetStreamEngine;
  /** This replica's followers of the sessions and VRP streams. */
  readonly appliers: Readonly<Record<Family, SharedLogApplier>>;
  readonly metricsPort: number | undefined;
  shutdown(graceMs?: number): Promise<void>;
}

export async function startReplica(
  config: ServerConfig,
  logger: Logger,
  hooks: Pick<ServerHooks, "onFatal"> = {},
): Promise<RunningReplica> {
  const nats = config.nats;
  if (config.engine !== "jetstream" || !nats)
    throw new Error("startReplica: needs --engine jetstream and its NATS flags");
  const contract = BUILT_IN_CONTRACT;
  const acceptVersions = checkAcceptedVersions(contract, config.acceptVersions);
  await mkdir(config.dataDir, { recursive: true });
  // One replica per data directory: its state stores are its own.
  const lock = await acquireLock(config.dataDir);
  let health: HealthStatus | undefined;
  let metrics: CollectorMetrics | undefined;
  let fatal = false;
  const onFatal = (what: string) => (error: Error) => {
    logger.error(`${what} failed: restart this replica to rebuild from its last checkpoint`, { error: error.message });
    for (const service of ["", SESSION_SERVICE_NAME, VRP_SERVICE_NAME]) health?.setStatus(service, "NOT_SERVING");
    if (fatal) return;
    fatal = true;
    hooks.onFatal?.(error);
  };
  const opened: { state: DerivedState; applier?: SharedLogApplier }[] = [];
  let engine: JetStreamEngine | undefined;
  let closing: Promise<void> | undefined;
  const closeAll = () =>
    (closing ??= (async () => {
      for (const o of opened) o.applier?.stop();
      await engine?.close().catch(() => {}); // ends the followers' reads, whatever they were doing
      for (const o of opened) await (o.applier ? o.applier.close() : o.state.close()).catch(() => {});
      await releaseLock(lock);
    })());
  try {
    engine = await JetStreamEngine.open({
      servers: nats.servers,
      replicas: nats.replicas,
      prefix: nats.prefix,
      creds: nats.creds,
      token: nats.token,
      tlsCa: nats.tlsCa,
      name: `session-events ${hostname()} ${config.address}`,
    });
    const appliers = {} as Record<Family, SharedLogApplier>;
    const states = {} as Record<Family, DerivedState>;
    for (const family of ["sessions", "vrp"] as const) {
      const dataDir = path.join(config.dataDir, family);
      await mkdir(dataDir, { recursive: true });
      const { state, replayed, checkpoint, rebuilt } = await openState({
        dataDir,
        log: engine.logs[family],
        checkpointRecords: config.checkpointRecords,
        checkpointIntervalMs: config.checkpointIntervalMs,
        onWarning: (message, details) => logger.warn(message, { family, ...details }),
      });
      opened.push({ state });
      logger.info("state store opened", { family, checkpoint, replayed, rebuilt: rebuilt ?? null });
      states[family] = state;
      appliers[family] = new SharedLogApplier(engine.logs[family], state, family);
      opened[opened.length - 1]!.applier = appliers[family];
      appliers[family].start(onFatal(`following the ${family} stream`), config.checkpointIntervalMs);
      state.onCheckpoint((applied) => metrics?.maintenance.checkpointed(applied));
    }
    const collector = new Collector(engine.logs.sessions, states.sessions, config.maxMessageBytes, {
      contract,
      acceptVersions,
      shared: new JetStreamSessionLog(engine.logs.sessions, engine.idempotency, appliers.sessions),
    });
    const hub = new ReplicaVrpHub(engine.logs.vrp, appliers.vrp, states.vrp, {
      maxRecoveryWindowMs: config.maxRecoveryWindowMs,
      maxSwitchesPerMinute: config.maxSwitchesPerMinute,
    });
    const policy = await hub.recordPolicy();
    if (policy.changed && policy.previous)
      logger.warn(
        "VRP policy changed: it applies to new events only; stored outcomes stand (give every replica the same policy)",
        {
          previous: policy.previous,
          now: hub.machine.policy,
        },
      );
    logger.info("joined the JetStream cluster", {
      servers: nats.servers,
      prefix: nats.prefix,
      replicas: nats.replicas,
      serialisation: engine.serialisation,
      sessionsLast: engine.logs.sessions.lastSequence,
      vrpLast: engine.logs.vrp.lastSequence,
    });
    const vrpLog = engine.logs.vrp;
    const served = await serveCollector(config, logger, {
      contract,
      collector,
      hub,
      vrpLog,
      streams: new OpenStreams(),
      lastSequence: () => vrpLog.lastSequence,
      failStart: async (e) => {
        await closeAll();
        throw e;
      },
      close: closeAll,
    });
    metrics = served.metrics;
    health = served.health;
    return {
      port: served.port,
      collector,
      vrp: hub,
      engine,
      appliers,
      metricsPort: served.metricsPort,
      shutdown: served.shutdown,
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
