/**
 * The collector's gRPC side, whatever the storage under it: SessionService
 * and VrpStreamService, grpc.health.v1 and reflection, optional bearer-token
 * auth and (mutual) TLS, message limits and keepalive, Prometheus metrics,
 * and a shutdown that drains first. The file engine (server.ts) and a
 * JetStream replica (replica-server.ts) hand it their collector and hub.
 */
import {
  Server,
  ServerCredentials,
  status,
  type ServerInterceptor,
  type ServerWritableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import type { Collector } from "../collector/collector.js";
import type { VrpIntake } from "../collector/vrp-hub.js";
import type { ServedContract } from "../bridge/served.js";
import { contracts } from "../contract/contracts.js";
import { SessionEventsError } from "../errors.js";
import { CollectorMetrics } from "../metrics/collector-metrics.js";
import { metricsInterceptor } from "../metrics/grpc-interceptor.js";
import { serveMetrics, type MetricsEndpoint } from "../metrics/http.js";
import type { EventLog } from "../store/event-log.js";
import { HEALTH_SERVICE_NAME, HealthStatus } from "./health.js";
import { authInterceptor, loggingInterceptor } from "./interceptors.js";
import type { Logger } from "./logger.js";
import type { OpenStreams } from "./open-streams.js";
import { addReflection } from "./reflection.js";
import type { ServerConfig } from "./server-config.js";
import { sessionServiceDefinitionFor, sessionServiceHandlers } from "./session-service.js";
import { withEventLimit } from "./strict-decode.js";
import { vrpServiceDefinition, vrpServiceHandlers } from "./vrp-service.js";

/** The session service's full name (for health checks). */
export const SESSION_SERVICE_NAME = "oneiric.session.v1.SessionService";
/** The VRP stream service's full name (for health checks). */
export const VRP_SERVICE_NAME = "vrp.v1alpha1.VrpStreamService";

/** What the storage side hands the gRPC side. */
export interface CollectorParts {
  readonly contract: ServedContract;
  readonly collector: Collector;
  readonly hub: VrpIntake;
  /** The log Subscribe reads (positions are its sequences). */
  readonly vrpLog: EventLog;
  readonly streams: OpenStreams;
  /** Metrics made before serving (collectorMetrics); made here when absent. */
  readonly metrics?: CollectorMetrics;
  /** The log's last sequence (logs, subscriber lag). */
  lastSequence(): bigint;
  /** Undo the start (close what was opened) and throw `e`. */
  failStart(e: unknown): Promise<never>;
  /** After the calls have ended: close the storage. */
  close(): Promise<void>;
}

export interface ServedCollector {
  readonly port: number;
  readonly metricsPort: number | undefined;
  readonly metrics: CollectorMetrics | undefined;
  readonly health: HealthStatus;
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * The collector's metrics, with --metrics-address. A caller that needs them
 * before serving (retention counts its first pass) makes them here and
 * passes them in `parts.metrics`.
 */
export function collectorMetrics(
  config: ServerConfig,
  parts: Pick<CollectorParts, "collector" | "streams" | "lastSequence">,
): CollectorMetrics | undefined {
  if (!config.metricsAddress) return undefined;
  const { collector, streams } = parts;
  return new CollectorMetrics({
    openSessions: () => collector.openSessionCount,
    subscriberLags: () =>
      [...streams].filter((s) => s.position).map((s) => Number(parts.lastSequence() - s.position!())),
    heldBack: () => {
      const held: Record<string, number> = {};
      for (const s of streams) if (s.heldBack()) held[s.kind] = (held[s.kind] ?? 0) + 1;
      return held;
    },
  });
}

/** Listen, serve, and return how to stop. */
export async function serveCollector(
  config: ServerConfig,
  logger: Logger,
  parts: CollectorParts,
): Promise<ServedCollector> {
  const { contract, collector, hub, streams } = parts;
  const metrics = parts.metrics ?? collectorMetrics(config, parts);
  // Validators are compiled on first use (about 100 ms each): before listening, so that the first
  // events do not wait for them (a producer's window of 256 fills in that time at 10,000 events/s).
  for (const validator of Object.values(contracts)) validator.prepare();

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
    vrpServiceHandlers(hub, parts.vrpLog, logger, streams, metrics),
  );

  const health = new HealthStatus({ "": "SERVING", [SESSION_SERVICE_NAME]: "SERVING", [VRP_SERVICE_NAME]: "SERVING" });
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
    const inUse = /EADDRINUSE/.test((e as Error).message);
    const why = inUse ? "the address is already in use" : (e as Error).message;
    await parts.failStart(
      new SessionEventsError(`--address ${config.address}: cannot listen (${why})`, { code: "UNAVAILABLE", cause: e }),
    );
  }
  let endpoint: MetricsEndpoint | undefined;
  if (metrics) {
    try {
      endpoint = await serveMetrics(config.metricsAddress!, metrics.registry);
    } catch (e) {
      server.forceShutdown();
      await parts.failStart(e);
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
      for (const service of ["", SESSION_SERVICE_NAME, VRP_SERVICE_NAME]) health.setStatus(service, "NOT_SERVING");
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
      await parts.close();
      await endpoint?.close();
      logger.info("stopped", { lastSequence: parts.lastSequence() });
    })());
  };

  return { port, metricsPort: endpoint?.port, metrics, health, shutdown };
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
