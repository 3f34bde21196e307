/**
 * The collector as a gRPC server: SessionService, grpc.health.v1 and server
 * reflection, optional bearer-token auth and (mutual) TLS, message limits and
 * keepalive from the configuration, and a shutdown that drains first.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Server, ServerCredentials, type ServerInterceptor } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import { Collector } from "../collector/collector.js";
import { openState } from "../state/open-state.js";
import { VrpHub } from "../vrp/hub.js";
import { vrpServiceDefinition, vrpServiceHandlers } from "./vrp-service.js";
import { SegmentLog } from "../store/segment-log.js";
import type { ServerConfig } from "./config.js";
import { authInterceptor, loggingInterceptor } from "./interceptors.js";
import type { Logger } from "./logger.js";
import { sessionServiceDefinition, sessionServiceHandlers } from "./session-service.js";
import { withEventLimit } from "./strict-decode.js";

export const SESSION_SERVICE_NAME = "oneiric.session.v1.SessionService";
export const VRP_SERVICE_NAME = "vrp.v1alpha1.VrpStreamService";
const PROTO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../proto");
// What reflection describes: exactly the services this server serves.
const SERVED_PROTOS = [path.join(PROTO_DIR, "oneiric/session/v1/session_service.proto"), path.join(PROTO_DIR, "vrp/v1alpha1/vrp_service.proto"), healthProtoPath];

export interface RunningServer {
  /** The port bound (useful with port 0). */
  readonly port: number;
  readonly collector: Collector;
  readonly vrp: VrpHub;
  /** Stop taking calls, let in-flight ones finish within the grace period, force the rest, close the log. */
  shutdown(graceMs?: number): Promise<void>;
}

export interface ServerHooks {
  /**
   * The event log failed (a write or fsync): nothing more can be stored until
   * a restart, whose recovery cuts what was half written. `serve` shuts down
   * and exits 1 so that a supervisor restarts it.
   */
  onFatal?: (error: Error) => void;
}

export async function startServer(config: ServerConfig, logger: Logger, given: ServerHooks = {}): Promise<RunningServer> {
  let health: HealthImplementation | undefined;
  const began = performance.now();
  // The log and the state store may both fail (a full disk): the stop is asked for once.
  let fatal = false;
  const hooks: ServerHooks = {
    onFatal: (error) => {
      if (fatal) return;
      fatal = true;
      given.onFatal?.(error);
    },
  };
  const log = await SegmentLog.open({
    dir: config.dataDir,
    segmentBytes: config.segmentBytes,
    onDamage: (report) => logger.warn("event log: an unfinished write (a crash tail, never acknowledged) cut off", { ...report }),
    onFailure: (error) => {
      logger.error("event log failed: no more events can be stored until a restart", { error: error.message });
      for (const service of ["", SESSION_SERVICE_NAME, VRP_SERVICE_NAME]) health?.setStatus(service, "NOT_SERVING");
      hooks.onFatal?.(error);
    },
  });
  const logOpenMs = Math.round(performance.now() - began);
  let opened;
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
  const collector = new Collector(log, state, config.maxMessageBytes);
  const hub = new VrpHub(log, state, { maxRecoveryWindowMs: config.maxRecoveryWindowMs, maxSwitchesPerMinute: config.maxSwitchesPerMinute });
  const policy = await hub.recordPolicy();
  if (policy.changed && policy.previous) {
    logger.warn("VRP policy changed: it applies to new events only; stored outcomes stand", { previous: policy.previous, now: hub.machine.policy });
  }
  logger.info("event log opened", { dataDir: path.resolve(config.dataDir), lastSequence: log.lastSequence, sessions: collector.sessionCount });

  const interceptors: ServerInterceptor[] = [loggingInterceptor(logger)];
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
  server.addService(withEventLimit(sessionServiceDefinition, config.maxEventBytes), sessionServiceHandlers(collector, logger));
  server.addService(withEventLimit(vrpServiceDefinition, config.maxEventBytes), vrpServiceHandlers(hub, log, logger));

  health = new HealthImplementation({ "": "SERVING", [SESSION_SERVICE_NAME]: "SERVING", [VRP_SERVICE_NAME]: "SERVING" });
  health.addToServer(server);
  new ReflectionService(loadSync(SERVED_PROTOS, { includeDirs: [PROTO_DIR] })).addToServer(server);

  const credentials = config.tls
    ? ServerCredentials.createSsl(
        config.tls.clientCa ?? null,
        [{ cert_chain: config.tls.cert, private_key: config.tls.key }],
        config.tls.clientCa !== undefined,
      )
    : ServerCredentials.createInsecure();
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(config.address, credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
    );
  } catch (e) {
    await collector.close();
    throw new Error(`cannot listen on ${config.address}: ${(e as Error).message}`);
  }
  logger.info("listening", { address: config.address, port, tls: config.tls ? (config.tls.clientCa ? "mutual" : "server") : "off", auth: config.token ? "bearer" : "off" });

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = config.shutdownGraceMs): Promise<void> => {
    // Asked again, without a grace period, while draining: stop now.
    if (stopping && graceMs === 0) server.forceShutdown();
    return (stopping ??= (async () => {
      for (const service of ["", SESSION_SERVICE_NAME, VRP_SERVICE_NAME]) health!.setStatus(service, "NOT_SERVING");
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
      await collector.close(); // pending appends are flushed before the log closes
      logger.info("stopped", { lastSequence: log.lastSequence });
    })());
  };

  return { port, collector, vrp: hub, shutdown };
}
