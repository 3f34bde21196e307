/**
 * SessionEventEmitter: what a service embeds to report its sessions to the
 * collector, and that must never hurt its host.
 *
 * - Every call has a deadline; UNAVAILABLE and DEADLINE_EXCEEDED are retried
 *   with exponential backoff and jitter (safe: the collector is idempotent on
 *   event_id, and a retried start carries the same event_id).
 * - A circuit breaker stops calling a dead collector for a while.
 * - `neverThrow: true`: failures are reported to `onError` and the call
 *   returns undefined, as the Python original did.
 * - `spoolDir`: events that cannot be delivered are kept on disk and
 *   delivered, in order, once the collector is back. A start kept this way
 *   returns a placeholder id "pending_<event_id>", which emitSessionEnd
 *   accepts; the emitter swaps in the real id on delivery.
 */
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { bridges } from "../bridge/index.js";
import { ValidationError } from "../contract/errors.js";
import type { JsonObject, SessionEndEventJson, SessionStartEventJson } from "../contract/types.js";
import { SessionEndEvent, SessionStartEvent } from "../session/models.js";
import { SessionServiceClient } from "../../gen/oneiric/session/v1/session_service.js";
import { CircuitBreaker, DEFAULT_BREAKER, type BreakerPolicy } from "./circuit-breaker.js";
import { DEFAULT_RETRY, isRetryable, withRetries, type RetryPolicy } from "./retry.js";
import { Spool, type SpooledEvent } from "./spool.js";
import { authMetadata, channelCredentials, channelTarget, type TlsOptions } from "./connection.js";

export type { TlsOptions } from "./connection.js";

export interface EmitterOptions {
  /** host:port of the collector. */
  readonly target: string;
  readonly componentName: string;
  /** Bearer token, when the collector requires one. */
  readonly token?: string;
  /** TLS (true: the system's roots). Without it the channel is plaintext. */
  readonly tls?: boolean | TlsOptions;
  /** Deadline of each attempt. Default 3000 ms. */
  readonly deadlineMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  readonly breaker?: Partial<BreakerPolicy>;
  /** Never throw into the host: return undefined and report to onError. */
  readonly neverThrow?: boolean;
  readonly onError?: (error: Error) => void;
  /** Keep undeliverable events here and deliver them later, in order. */
  readonly spoolDir?: string;
  /** How often to try delivering spooled events. Default 2000 ms. */
  readonly spoolRetryMs?: number;
}

/** A refusal from the collector (or from the way to it), with its gRPC code. */
export class EmitError extends Error {
  override readonly name = "EmitError";
  constructor(
    message: string,
    readonly code: status | undefined,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

const PLACEHOLDER_PREFIX = "pending_";

export class SessionEventEmitter {
  private readonly client: SessionServiceClient;
  private readonly breaker: CircuitBreaker;
  private readonly retry: RetryPolicy;
  private readonly deadlineMs: number;
  private spool: Promise<Spool> | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private draining: Promise<number> | undefined;
  private closed = false;

  constructor(private readonly options: EmitterOptions) {
    this.client = new SessionServiceClient(channelTarget(options.target), channelCredentials(options.tls), {
      // Reconnect soon after the collector comes back (grpc-js waits 1 s, then up to 120 s).
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 5000,
    });
    this.breaker = new CircuitBreaker({ ...DEFAULT_BREAKER, ...options.breaker });
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.deadlineMs = options.deadlineMs ?? 3000;
    if (options.spoolDir) {
      this.spool = Spool.open(options.spoolDir);
      this.spool.catch(() => {}); // reported when first used
      this.drainTimer = setInterval(() => void this.flush().catch(() => 0), options.spoolRetryMs ?? 2000);
      this.drainTimer.unref(); // never keep the host alive
    }
  }

  /** Report a session start; returns the collector's session id (or a spool placeholder). */
  async emitSessionStart({ shellType, metadata }: { shellType: string; metadata?: JsonObject }): Promise<string | undefined> {
    return this.guard(async () => {
      const event = SessionStartEvent.create({ componentName: this.options.componentName, shellType, metadata });
      return this.deliverOrSpool({ kind: "start", event });
    });
  }

  /** Report a session end (a spool placeholder is welcome: it is swapped for the real id on delivery). */
  async emitSessionEnd(sessionId: string, metadata?: JsonObject): Promise<void> {
    await this.guard(async () => {
      const event = SessionEndEvent.create({ sessionId, metadata });
      await this.deliverOrSpool({ kind: "end", event });
      return undefined;
    });
  }

  /** Try to deliver everything spooled now. Resolves with how many were delivered. */
  flush(): Promise<number> {
    if (!this.spool) return Promise.resolve(0);
    // One drain at a time: callers arriving meanwhile share it.
    this.draining ??= (async () => {
      try {
        const spool = await this.spool!;
        return await spool.drain((e) => this.send(e), placeholderOf, isOutage, (_event, error) => this.report(asEmitError(error)));
      } finally {
        this.draining = undefined;
      }
    })();
    return this.draining;
  }

  /** The collector's id for a placeholder, once its start was delivered. */
  async resolveSessionId(sessionId: string): Promise<string> {
    const spool = this.spool && (await this.spool);
    return spool?.resolvedId(sessionId) ?? sessionId;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.drainTimer);
    await this.draining?.catch(() => 0);
    this.client.close();
    if (this.spool) await (await this.spool).close();
  }

  private async deliverOrSpool(spooled: SpooledEvent): Promise<string | undefined> {
    const spool = this.spool && (await this.spool);
    // Order: while anything waits in the spool, new events queue behind it.
    if (spool?.pending) await this.flush().catch(() => {});
    if (spool?.pending) return this.keep(spool, spooled);
    // The flush may just have learnt the session id behind a placeholder.
    const resolved = spooled.kind === "end" ? spool?.resolvedId(spooled.event.session_id) : undefined;
    const event: SpooledEvent = resolved && spooled.kind === "end" ? { kind: "end", event: { ...spooled.event, session_id: resolved } } : spooled;
    try {
      return await this.send(event);
    } catch (e) {
      if (spool && isOutage(e)) return this.keep(spool, event);
      throw e;
    }
  }

  private async keep(spool: Spool, event: SpooledEvent): Promise<string | undefined> {
    await spool.add(event);
    return event.kind === "start" ? placeholderOf(event.event) : undefined;
  }

  /** One event to the collector: breaker, retries, deadline. Returns the session id. */
  private send(event: SpooledEvent): Promise<string | undefined> {
    return this.breaker.run(
      () =>
        withRetries(this.retry, () =>
          event.kind === "start" ? this.call("emitSessionStart", { event: bridges.SessionStartEvent.fromJson(event.event) }) : this.call("emitSessionEnd", { event: bridges.SessionEndEvent.fromJson(event.event) }),
        ),
      isOutage,
    );
  }

  private call(method: "emitSessionStart" | "emitSessionEnd", request: object): Promise<string> {
    const metadata = authMetadata(this.options.token);
    const deadline = new Date(Date.now() + this.deadlineMs);
    return new Promise((resolve, reject) => {
      (this.client[method] as (r: object, m: Metadata, o: object, cb: (e: ServiceError | null, res: { sessionId: string }) => void) => void)(
        request,
        metadata,
        { deadline },
        (error, response) => (error ? reject(error) : resolve(response.sessionId)),
      );
    });
  }

  /** Throw as EmitError, or, with neverThrow, report and return undefined. */
  private async guard<T>(work: () => Promise<T | undefined>): Promise<T | undefined> {
    try {
      if (this.closed) throw new EmitError("the emitter is closed", undefined);
      return await work();
    } catch (e) {
      const error = asEmitError(e);
      if (!this.options.neverThrow) throw error;
      this.report(error);
      return undefined;
    }
  }

  private report(error: Error): void {
    try {
      this.options.onError?.(error);
    } catch {
      // the host's handler failing is no reason to throw either
    }
  }
}

function placeholderOf(start: SessionStartEventJson | SessionEndEventJson): string {
  return `${PLACEHOLDER_PREFIX}${(start as SessionStartEventJson).event_id}`;
}

/** The collector did not answer (down, unreachable, too slow, or the breaker is open). */
function isOutage(error: unknown): boolean {
  return isRetryable(error) || (error as Error)?.name === "CircuitOpenError";
}

function asEmitError(e: unknown): Error {
  if (e instanceof EmitError || e instanceof ValidationError) return e;
  const grpc = e as Partial<ServiceError>;
  if (typeof grpc.code === "number") return new EmitError(`${status[grpc.code]}: ${grpc.details}`, grpc.code, e);
  return new EmitError((e as Error)?.message ?? String(e), undefined, e);
}
