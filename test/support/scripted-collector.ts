/**
 * A SessionService on loopback whose answers a test scripts: a throttle that
 * sends google.rpc.RetryInfo, a black hole that never answers. For what a
 * real collector cannot be made to do.
 */
import {
  Metadata,
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { Status } from "../../gen/google/rpc/status.js";
import { SessionServiceService, type EmitSessionStartResponse } from "../../gen/oneiric/session/v1/session_service.js";
import { encodeRetryInfo, RETRY_INFO_TYPE_URL, STATUS_DETAILS_KEY } from "../../src/client/retry-info.js";

/** What to answer the nth call (0-based): a session id, an error, or nothing at all. */
export type Answer = { sessionId: string } | Partial<ServiceError> | "never";

export interface ScriptedCollector {
  readonly target: string;
  readonly calls: { method: string; at: number }[];
  shutdown(): Promise<void>;
}

export async function startScriptedCollector(
  answer: (call: number, method: string) => Answer,
): Promise<ScriptedCollector> {
  const server = new Server();
  const calls: { method: string; at: number }[] = [];
  const handler = (method: string) => (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const n = calls.length;
    calls.push({ method, at: performance.now() });
    const a = answer(n, method);
    if (a === "never") return; // a black hole: the client's deadline is all that ends the call
    if ("sessionId" in a) callback(null, { sessionId: a.sessionId, status: "created" } as EmitSessionStartResponse);
    else callback(a as ServiceError, null);
  };
  const all = Object.fromEntries(Object.keys(SessionServiceService).map((k) => [k, handler(k)]));
  server.addService(SessionServiceService, all);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    target: `127.0.0.1:${port}`,
    calls,
    shutdown: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

/** RESOURCE_EXHAUSTED with a RetryInfo asking for `delayMs` (a throttle). */
export function throttled(delayMs: number): Partial<ServiceError> {
  const metadata = new Metadata();
  const details = Status.encode({
    code: status.RESOURCE_EXHAUSTED,
    message: "slow down",
    details: [{ typeUrl: RETRY_INFO_TYPE_URL, value: Buffer.from(encodeRetryInfo(delayMs)) }],
  }).finish();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(details));
  return { code: status.RESOURCE_EXHAUSTED, details: "slow down", metadata };
}
