/**
 * The collector as a gRPC server: SessionService, grpc.health.v1 and server
 * reflection, optional bearer-token auth and (mutual) TLS, message limits and
 * keepalive from the configuration, and a shutdown that drains first.
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import {
  Server,
  ServerCredentials,
  status,
  type ServerInterceptor,
  type ServerWritableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { Collector, checkAcceptedVersions } from "../collector/collector.js";
import { openState, type OpenedState } from "../state/open-state.js";
import { VrpHub } from "../collector/vrp-hub.js";
import { vrpServiceDefinition, vrpServiceHandlers } from "./vrp-service.js";
import { SegmentLog } from "../store/segment-log.js";
import type { ServerConfig } from "./server-config.js";
import { SessionEventsError } from "../errors.js";
import { retentionEnabled, startRetention, type RetentionTimer } from "./retention.js";
import { authInterceptor, loggingInterceptor } from "./interceptors.js";
import type { Logger } from "./logger.js";
import { sessionServiceDefinitionFor, sessionServiceHandlers } from "./session-service.js";
import { BUILT_IN_CONTRACT } from "../bridge/served.js";
import { withEventLimit } from "./strict-decode.js";
import { HEALTH_SERVICE_NAME, HealthStatus } from "./health.js";
import { addReflection } from "./reflection.js";
import { OpenStreams } from "./open-streams.js";
import { CollectorMetrics } from "../metrics/collector-metrics.js";
import { metricsInterceptor } from "../metrics/grpc-interceptor.js";
import { serveMetrics, type MetricsEndpoint } from "../metrics/http.js";

/** The session service's full name (for health checks). */
export const SESSION_SERVICE_NAME = "oneiric.session.v1.SessionService";
/** The VRP stream service's full name (for health checks). */
export const VRP_SERVICE_NAME = "vrp.v1alpha1.VrpStreamService";

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
      onSync: (sync) => metrics?.logSynced(sync.records, sync.seconds),
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
  const policy = await hub.recordPolicy();
  if (policy.changed && policy.previous) {
    logger.warn("VRP policy changed: it applies to new events only; stored outcomes stand", {
      previous: policy.previous,
      now: hub.machine.policy,
    });
  }
  // Before retention starts: its first pass is counted like the others.
  if (config.metricsAddress) {
    metrics = new CollectorMetrics({
      openSessions: () => collector.openSessionCount,
      subscriberLags: () => [...streams].filter((s) => s.position).map((s) => Number(log.lastSequence - s.position!())),
      heldBack: () => {
        const held: Record<string, number> = {};
        for (const s of streams) if (s.heldBack()) held[s.kind] = (held[s.kind] ?? 0) + 1;
        return held;
      },
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

  const interceptors: ServerInterceptor[] = [loggingInterceptor(logger)];
  if (metrics) interceptors.unshift(metricsInterceptor(metrics));
  if (config.token) interceptors.push(authInterceptor(config.token));
  const server = new Server({
    interceptors,
    "grpc.max_receive_message_length": config.maxMessageBytes,
    "grpc.max_send_message_length": config.maxMessageBytes,
    "grpc.keepalive_time_ms": config.keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": config.keepaliveTimeoutMs,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5000,
  });
  server.addService(
    withEventLimit(sessionServiceDefinitionFor(contract.mappings), config.maxEventBytes),
    sessionServiceHandlers(collector, logger, metrics),
  );
  server.addService(
    withEventLimit(vrpServiceDefinition, config.maxEventBytes),
    vrpServiceHandlers(hub, log, logger, streams, metrics),
  );

  health = new HealthStatus({ "": "SERVING", [SESSION_SERVICE_NAME]: "SERVING", [VRP_SERVICE_NAME]: "SERVING" });
  health.addToServer(withWatchesIn(server, streams));
  // What reflection describes: exactly the services this server serves.
  addReflection(server, [SESSION_SERVICE_NAME, VRP_SERVICE_NAME, HEALTH_SERVICE_NAME]);

  const credentials = config.tls
    ? ServerCredentials.createSsl(
        config.tls.clientCa ?? null,
        [{ cert_chain: config.tls.cert, private_key: config.tls.key }],
        config.tls.clientCa !== undefined,
      )
    : ServerCredentials.createInsecure();
  let port = 0;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(config.address, credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
    );
  } catch (e) {
    server.forceShutdown();
    await retention?.stop();
    const inUse = /EADDRINUSE/.test((e as Error).message);
    const why = inUse ? "the address is already in use" : (e as Error).message;
    await failStart(
      new SessionEventsError(`--address ${config.address}: cannot listen (${why})`, { code: "UNAVAILABLE", cause: e }),
    );
  }
  let endpoint: MetricsEndpoint | undefined;
  if (metrics) {
    try {
      endpoint = await serveMetrics(config.metricsAddress!, metrics.registry);
    } catch (e) {
      server.forceShutdown();
      await failStart(e);
    }
    logger.info("metrics", { address: config.metricsAddress, port: endpoint!.port, path: "/metrics" });
  }
  logger.info("listening", {
    address: config.address,
    port,
    tls: config.tls ? (config.tls.clientCa ? "mutual" : "server") : "off",
    auth: config.token ? "bearer" : "off",
  });

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = config.shutdownGraceMs): Promise<void> => {
    // Asked again, without a grace period, while draining: stop now.
    if (stopping && graceMs === 0) server.forceShutdown();
    return (stopping ??= (async () => {
      for (const service of ["", SESSION_SERVICE_NAME, VRP_SERVICE_NAME]) health!.setStatus(service, "NOT_SERVING");
      // Streams have no end of their own: end them now, telling clients to reconnect; unary calls get the grace.
      streams.closeAll(
        "the collector is shutting down: reconnect (to another collector, or to this one once it is back)",
      );
      logger.info("shutting down", { graceMs });
      // tryShutdown waits for open calls and streams, possibly forever: force after the grace period.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn("grace period over: cancelling the calls still open");
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await retention?.stop(); // a pass in progress finishes (its archive and removal) before the log closes
      await collector.close(); // pending appends are flushed before the log closes
      await endpoint?.close();
      logger.info("stopped", { lastSequence: log.lastSequence });
    })());
  };

  return { port, collector, vrp: hub, log, retention, metricsPort: endpoint?.port, shutdown };
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

/** The health service, with each Watch call registered so that a shutdown ends it. */
function withWatchesIn(server: Server, streams: OpenStreams): Server {
  return {
    addService(
      service: Parameters<Server["addService"]>[0],
      implementation: Record<string, (...args: never[]) => void>,
    ) {
      const watch = implementation.watch as unknown as (call: ServerWritableStream<unknown, unknown>) => void;
      server.addService(service, {
        ...implementation,
        watch(call: ServerWritableStream<unknown, unknown>) {
          const remove = streams.add({
            kind: "Watch",
            heldBack: () => false,
            close: (details) =>
              call.emit("error", { code: status.UNAVAILABLE, details } satisfies Partial<ServiceError>),
          });
          call.on("cancelled", remove);
          call.on("finish", remove);
          watch(call);
        },
      });
    },
  } as unknown as Server;
}
