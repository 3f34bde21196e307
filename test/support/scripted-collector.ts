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

/** What to answer the nth call (0-based): a session id (after `delayMs`), an error, or nothing at all. */
export type Answer = { sessionId: string; delayMs?: number } | Partial<ServiceError> | "never";

/** A call as the collector saw it: from which connection (`peer`), when it came, when it was answered. */
export interface ScriptedCall {
  readonly method: string;
  readonly at: number;
  readonly peer: string;
  readonly request: unknown;
  answeredAt?: number;
}

export interface ScriptedCollector {
  readonly target: string;
  readonly calls: ScriptedCall[];
  shutdown(): Promise<void>;
}

export async function startScriptedCollector(
  answer: (call: number, method: string) => Answer,
): Promise<ScriptedCollector> {
  const server = new Server();
  const calls: ScriptedCall[] = [];
  const handler = (method: string) => (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const n = calls.length;
    const seen: ScriptedCall = { method, at: performance.now(), peer: call.getPeer(), request: call.request };
    calls.push(seen);
    const a = answer(n, method);
    if (a === "never") return; // a black hole: the client's deadline is all that ends the call
    const reply = () => {
      seen.answeredAt = performance.now();
      if ("sessionId" in a) callback(null, { sessionId: a.sessionId, status: "created" } as EmitSessionStartResponse);
      else callback(a as ServiceError, null);
    };
    if ("delayMs" in a && a.delayMs) setTimeout(reply, a.delayMs);
    else reply();
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
