/**
 * grpc.health.v1 (Check, Watch, List), served from its generated code: what
 * load balancers, orchestrators and grpc_health_probe ask. The collector sets
 * NOT_SERVING on every service when it shuts down or its log fails.
 */
import { status, type Server, type ServerWritableStream } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from "../../gen/grpc/health/v1/health.js";

export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";

export type HealthState = "SERVING" | "NOT_SERVING";

export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>>();

  /** `initial`: service name ("" is the whole server) -> its state. */
  constructor(initial: Readonly<Record<string, HealthState>>) {
    for (const [service, state] of Object.entries(initial)) this.statuses.set(service, ServingStatus[state]);
  }

  setStatus(service: string, state: HealthState): void {
    const next = ServingStatus[state];
    if (this.statuses.get(service) === next) return;
    this.statuses.set(service, next);
    for (const call of this.watchers.get(service) ?? []) call.write({ status: next });
  }

  addToServer(server: Server): void {
    const handlers: HealthServer = {
      check: (call, callback) => {
        const known = this.statuses.get(call.request.service);
        if (known === undefined)
          callback({ code: status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        else callback(null, { status: known });
      },
      watch: (call) => {
        const service = call.request.service;
        let watching = this.watchers.get(service);
        if (!watching) this.watchers.set(service, (watching = new Set()));
        watching.add(call);
        call.write({ status: this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN });
        call.on("cancelled", () => watching.delete(call));
      },
      list: (_call, callback) => {
        callback(null, { statuses: new Map([...this.statuses].map(([service, s]) => [service, { status: s }])) });
      },
    };
    server.addService(HealthService, handlers);
  }
}
