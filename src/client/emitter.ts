/**
 * SessionEventEmitter: what a service embeds to report its sessions to the
 * collector, and that must never hurt its host (docs/emitter.md).
 *
 * - With a spool (`spoolDir`), a call returns once the collector has
 *   acknowledged the event within a short wait (`ackWaitMs`), or once the
 *   event is durably in the spool; a background sender delivers the spool,
 *   in order. A spooled start returns a placeholder "pending_<event_id>",
 *   which emitSessionEnd accepts and resolveSessionId turns into the
 *   collector's id once delivered. The spool is bounded (`maxSpoolBytes`,
 *   `onSpoolFull`) and reclaimed once delivered.
 * - Without a spool, a call retries within the retry policy's elapsed budget
 *   (retry.ts: OTLP's retryable codes, backoff with jitter).
 * - A circuit breaker stops calling a dead collector for a while; half-open,
 *   one trial goes through and the others fail fast.
 * - `neverThrow: true`: no call ever throws or rejects, whatever it is given;
 *   failures go to `onError` and the call returns undefined.
 */
import { type Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { bridges } from "../bridge/index.js";
import { ValidationError } from "../contract/errors.js";
import type { JsonObject, SessionEndEventJson, SessionStartEventJson } from "../contract/types.js";
import { SessionEndEvent, SessionStartEvent } from "../session/models.js";
import { SessionServiceClient } from "../../gen/oneiric/session/v1/session_service.js";
import {
  SessionEndEvent as SessionEndEventMessage,
  SessionStartEvent as SessionStartEventMessage,
} from "../../gen/oneiric/session/v1/session_events.js";
import { CircuitBreaker, CircuitOpenError, DEFAULT_BREAKER, type BreakerPolicy } from "./circuit-breaker.js";
import { Backoff, isRetryable, retryPolicy, withRetries, type RetryPolicy } from "./retry.js";
import { Spool, SpoolError, type SpooledEvent } from "./spool.js";
import { SpoolSender } from "./spool-sender.js";
import { registerEmitterMetrics, type Counter, type EmitterStats, type MetricsRegistry } from "./emitter-stats.js";
import { authMetadata, channelCredentials, channelTarget, type TlsOptions } from "./connection.js";
import { ERROR_CODES, SessionEventsError, type ErrorCode } from "../errors.js";

export type { TlsOptions } from "./connection.js";
export type { EmitterStats, MetricsRegistry } from "./emitter-stats.js";
export { SpoolError } from "./spool.js";

/** How a SessionEventEmitter reaches its collector, retries, spools and reports (docs/emitter.md). */
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
  /** With a spool: how long a call waits for the collector's answer before it spools the event instead. Default: deadlineMs. */
  readonly ackWaitMs?: number;
  /** The retry policy (retry.ts). Without a spool it bounds a call; with one, it paces the background sender. */
  readonly retry?: Partial<RetryPolicy>;
  readonly breaker?: Partial<BreakerPolicy>;
  /** Never throw into the host: return undefined and report to onError. */
  readonly neverThrow?: boolean;
  /** Told of every failure and anomaly: refusals, outages, spool damage and losses. */
  readonly onError?: (error: Error) => void;
  /** Keep events that could not be delivered at once here, and deliver them in the background. */
  readonly spoolDir?: string;
  /** The spool's size limit in bytes. Default 64 MiB. */
  readonly maxSpoolBytes?: number;
  /** When the spool is full: "refuse" the event at once (default), or "block" the call up to spoolFullBlockMs for room, then refuse. */
  readonly onSpoolFull?: "refuse" | "block";
  /** How long "block" waits for room. Default 5000 ms. */
  readonly spoolFullBlockMs?: number;
  /** How long resolveSessionId still knows a placeholder after its start was delivered. Default 24 h. */
  readonly placeholderRetentionMs?: number;
  /** Events the background sender has in flight at once. Default 8. */
  readonly senderConcurrency?: number;
  /** Longest wait between the sender's attempts while the collector is unreachable, and between attempts to open a failing spool. Default 5000 ms. */
  readonly spoolRetryMs?: number;
  /** close(): how long it goes on delivering the spool before leaving the rest for next time. Default 5000 ms. */
  readonly closeTimeoutMs?: number;
  /** The largest event (protobuf bytes) the collector accepts: larger ones are refused before sending or spooling. Default 262144 (the collector's default --max-event-bytes). */
  readonly maxEventBytes?: number;
  /** A prom-client Registry (or anything with its registerMetric): the stats are registered there as metrics. */
  readonly metrics?: MetricsRegistry;
}

/**
 * A refusal from the collector (or from the way to it). `code` is the gRPC
 * status name, as on every SessionEventsError; `status` the number grpc-js
 * uses (undefined when no call was made, e.g. the emitter was closed).
 */
export class EmitError extends SessionEventsError {
  override readonly name = "EmitError";
  constructor(
    message: string,
    readonly status: status | undefined,
    cause?: unknown,
  ) {
    super(message, {
      code: status === undefined ? "FAILED_PRECONDITION" : ((grpcStatusName(status) ?? "UNKNOWN") as ErrorCode),
      cause,
    });
  }
}

function grpcStatusName(code: status): string | undefined {
  const name = status[code];
  return (ERROR_CODES as readonly string[]).includes(name ?? "") ? name : undefined;
}

const PLACEHOLDER_PREFIX = "pending_";
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * What a service embeds to report its sessions: each call returns once the
 * collector acknowledged the event or it is durably spooled, never after a
 * backlog; a background sender delivers the spool in order (docs/emitter.md).
 * @example
 * ```ts
 * import { SessionEventEmitter } from "session-events/client";
 * const emitter = new SessionEventEmitter({ target: "127.0.0.1:50051", componentName: "billing", spoolDir: "./spool" });
 * const sessionId = await emitter.emitSessionStart({ shellType: "zsh" });
 * await emitter.emitSessionEnd(sessionId!);
 * await emitter.close();
 * ```
 */
export class SessionEventEmitter {
  /** The host's calls. */
  private readonly client: SessionServiceClient;
  /** The background sender's calls: a connection of their own, so a host call never waits behind the drain's frames. */
  private senderClient: SessionServiceClient | undefined;
  /** Host calls on their way to the collector now: the sender keeps its batches small meanwhile. */
  private hostSends = 0;
  private readonly breaker: CircuitBreaker;
  private readonly retry: RetryPolicy;
  private readonly deadlineMs: number;
  private readonly ackWaitMs: number;
  private spool: Spool | undefined;
  private spoolOpening: Promise<Spool | undefined> | undefined;
  private spoolRetryTimer: NodeJS.Timeout | undefined;
  private readonly spoolOpenBackoff: Backoff;
  private sender: SpoolSender | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly roomWaiters = new Set<() => void>();
  private readonly counters: Record<Counter, number> = {
    delivered: 0,
    spooled: 0,
    retried: 0,
    refused: 0,
    dropped: 0,
    spoolErrors: 0,
  };
  private closing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: EmitterOptions) {
    this.client = this.newClient({});
    this.breaker = new CircuitBreaker({ ...DEFAULT_BREAKER, ...options.breaker });
    this.retry = retryPolicy(options.retry);
    this.deadlineMs = options.deadlineMs ?? 3000;
    this.ackWaitMs = options.ackWaitMs ?? this.deadlineMs;
    this.spoolOpenBackoff = new Backoff(
      retryPolicy({ initialIntervalMs: Math.min(100, this.spoolRetryMs), maxIntervalMs: this.spoolRetryMs }),
    );
    if (options.spoolDir) this.openSpool();
    if (options.metrics) registerEmitterMetrics(options.metrics, () => this.stats(), String(options.componentName));
  }

  /** Report a session start; returns the collector's session id (or a spool placeholder). */
  emitSessionStart(init: { shellType: string; metadata?: JsonObject }): Promise<string | undefined> {
    return this.guard(async () => {
      if (typeof init !== "object" || init === null)
        throw new EmitError(
          `emitSessionStart: expects { shellType, metadata? }; got ${init === null ? "null" : typeof init}`,
          status.INVALID_ARGUMENT,
        );
      const event = SessionStartEvent.create({
        componentName: this.options.componentName,
        shellType: init.shellType,
        metadata: init.metadata,
      });
      this.checkSize(SessionStartEventMessage.encode(bridges.SessionStartEvent.fromJson(event)).finish().length);
      return this.deliverOrSpool({ kind: "start", event });
    });
  }

  /** Report a session end (a spool placeholder is welcome: it is swapped for the real id on delivery). */
  async emitSessionEnd(sessionId: string, metadata?: JsonObject): Promise<void> {
    await this.guard(async () => {
      if (sessionId === "")
        throw this.refuse(
          new EmitError(
            "session_id: must not be empty (the collector refuses an end without a session)",
            status.INVALID_ARGUMENT,
          ),
        );
      const event = SessionEndEvent.create({ sessionId, metadata });
      this.checkSize(SessionEndEventMessage.encode(bridges.SessionEndEvent.fromJson(event)).finish().length);
      await this.deliverOrSpool({ kind: "end", event });
      return undefined;
    });
  }

  /**
   * Deliver what the spool holds now, and wait for it: resolves with how
   * many were delivered, once the spool is empty or the collector has proved
   * unreachable (stats() then shows what waits). Never rejects.
   */
  async flush(): Promise<number> {
    const spool = await this.spoolReady();
    if (!spool || !this.sender) return 0;
    return this.sender.drain().catch((e: unknown) => {
      this.report(asEmitError(e));
      return 0;
    });
  }

  /** The collector's id for a placeholder, once its start was delivered (within the retention window); otherwise what it was given. */
  async resolveSessionId(sessionId: string): Promise<string> {
    const spool = await this.spoolReady();
    return spool?.resolvedId(sessionId) ?? sessionId;
  }

  stats(): EmitterStats {
    const spool = this.spool;
    const oldest = spool?.pendingCount ? spool.oldestPendingAt : undefined;
    return {
      spooledEvents: spool?.pendingCount ?? 0,
      spooledBytes: spool?.bytes ?? 0,
      oldestPendingAgeMs: oldest ? Math.max(0, Date.now() - oldest) : 0,
      ...this.counters,
      breaker: this.breaker.state,
      spoolAvailable: spool !== undefined,
      stateWrites: spool?.stateWrites ?? 0,
    };
  }

  /**
   * Refuse new events, wait for the calls in flight, then deliver the spool
   * for at most closeTimeoutMs; what remains stays spooled for next time.
   * Never rejects.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    clearTimeout(this.spoolRetryTimer);
    const spool = await this.spoolOpening?.catch(() => undefined);
    if (spool && this.sender) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((r) => (timer = setTimeout(r, this.options.closeTimeoutMs ?? 5000)));
      await Promise.race([this.sender.drain().catch(() => 0), timeout]);
      clearTimeout(timer);
    }
    this.client.close(); // calls still in flight fail; their events stay spooled
    this.senderClient?.close();
    try {
      await this.sender?.stop();
      await spool?.reclaim(); // all delivered: leave a fresh, empty generation behind
      await spool?.close();
    } catch (e) {
      this.report(asEmitError(e));
    }
  }

  // --- delivery --------------------------------------------------------------

  private async deliverOrSpool(spooled: SpooledEvent): Promise<string | undefined> {
    const spool = this.options.spoolDir ? await this.spoolReady() : undefined;
    let event = spooled;
    if (event.kind === "end" && isPlaceholder(event.event.session_id)) {
      const real = spool?.resolvedId(event.event.session_id);
      // Its start waits in the spool: the end goes behind it.
      if (!real) return this.keep(spool, event, undefined);
      event = { kind: "end", event: { ...event.event, session_id: real } };
    }
    if (!this.options.spoolDir) return this.sendWithRetries(event);
    // The collector is known to be unreachable: straight to the spool.
    if (spool && (this.breaker.state === "open" || this.sender?.outage !== undefined))
      return this.keep(spool, event, undefined);
    const sent = this.hostSend(event);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<"waited">((r) => (timer = setTimeout(() => r("waited"), this.ackWaitMs)));
    try {
      const outcome = await Promise.race([sent, waited]);
      if (outcome !== "waited") {
        this.count("delivered");
        return outcome;
      }
    } catch (e) {
      if (!isOutage(e)) {
        this.count("refused");
        throw e;
      }
      this.count("retried");
      return this.keep(spool, event, e);
    } finally {
      clearTimeout(timer);
    }
    // No answer within the wait: spool it. If the late answer comes, it tells the placeholder's id.
    sent.then(
      (id) => id && event.kind === "start" && this.spool?.learn(placeholderOf(event.event), id),
      () => {},
    );
    return this.keep(
      spool,
      event,
      new EmitError(`no answer from the collector within ${this.ackWaitMs} ms`, status.DEADLINE_EXCEEDED),
    );
  }

  /** Put an event in the spool; a start returns its placeholder. */
  private async keep(spool: Spool | undefined, event: SpooledEvent, why: unknown): Promise<string | undefined> {
    if (!spool) {
      this.count("dropped");
      const reason = this.options.spoolDir
        ? "the spool is unavailable (see the errors reported before)"
        : "no spool is configured";
      throw new EmitError(
        `${describe(why) ?? "the event must wait for its start"}, and ${reason}: the event was not kept`,
        status.UNAVAILABLE,
        why,
      );
    }
    await this.waitForRoom(spool, event);
    try {
      await spool.add(event);
    } catch (e) {
      this.count("dropped");
      throw new EmitError(
        `${describe(why) ?? "spooling"}: the spool could not keep the event: ${(e as Error).message}`,
        status.UNAVAILABLE,
        e,
      );
    }
    this.count("spooled");
    this.sender?.poke();
    return event.kind === "start" ? placeholderOf(event.event) : undefined;
  }

  private async waitForRoom(spool: Spool, event: SpooledEvent): Promise<void> {
    const limit = this.maxSpoolBytes;
    const full = () => spool.bytes + JSON.stringify(event).length + 64 > limit;
    if (!full()) return;
    if (this.options.onSpoolFull === "block") {
      const until = Date.now() + (this.options.spoolFullBlockMs ?? 5000);
      while (full() && Date.now() < until) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, until - Date.now());
          this.roomWaiters.add(done);
          function done() {
            clearTimeout(timer);
            resolve();
          }
        });
      }
      if (!full()) return;
    }
    this.count("dropped");
    throw new EmitError(
      `the spool is full (${spool.bytes} bytes of maxSpoolBytes ${limit}, ${spool.pendingCount} events waiting): the event was refused`,
      status.RESOURCE_EXHAUSTED,
    );
  }

  private async sendWithRetries(event: SpooledEvent): Promise<string | undefined> {
    try {
      // The breaker judges the whole call: its retries are one failure, not several.
      const id = await this.breaker.run(
        () =>
          withRetries(this.retry, async (remainingMs) => {
            try {
              return await this.attempt(event, Math.max(1, Math.min(this.deadlineMs, remainingMs || this.deadlineMs)));
            } catch (e) {
              if (isRetryable(e)) this.count("retried");
              throw e;
            }
          }),
        isOutage,
      );
      this.count("delivered");
      return id;
    } catch (e) {
      if (!isOutage(e)) this.count("refused");
      throw e;
    }
  }

  /** A host's call straight to the collector (one attempt); the sender makes way while it is in flight. */
  private hostSend(event: SpooledEvent): Promise<string | undefined> {
    this.hostSends++;
    const sent = this.send(event);
    const done = () => void this.hostSends--;
    sent.then(done, done);
    return sent;
  }

  /** One attempt, through the breaker. Resolves with the session id. */
  private send(event: SpooledEvent, client = this.client): Promise<string | undefined> {
    return this.breaker.run(() => this.attempt(event, this.deadlineMs, client), isOutage);
  }

  private attempt(event: SpooledEvent, deadlineMs: number, client = this.client): Promise<string> {
    return event.kind === "start"
      ? this.call(client, "emitSessionStart", { event: bridges.SessionStartEvent.fromJson(event.event) }, deadlineMs)
      : this.call(client, "emitSessionEnd", { event: bridges.SessionEndEvent.fromJson(event.event) }, deadlineMs);
  }

  private call(
    client: SessionServiceClient,
    method: "emitSessionStart" | "emitSessionEnd",
    request: object,
    deadlineMs: number,
  ): Promise<string> {
    const metadata = authMetadata(this.options.token);
    const deadline = new Date(Date.now() + deadlineMs);
    return new Promise((resolve, reject) => {
      (
        client[method] as (
          r: object,
          m: Metadata,
          o: object,
          cb: (e: ServiceError | null, res: { sessionId: string }) => void,
        ) => void
      )(request, metadata, { deadline }, (error, response) => (error ? reject(error) : resolve(response.sessionId)));
    });
  }

  private newClient(extra: Record<string, number>): SessionServiceClient {
    return new SessionServiceClient(channelTarget(this.options.target), channelCredentials(this.options.tls), {
      // Reconnect soon after the collector comes back (grpc-js waits 1 s, then up to 120 s).
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 5000,
      ...extra,
    });
  }

  /** The sender's channel: a local subchannel pool, so grpc-js does not share the host channel's connection with it. */
  private newSenderClient(): SessionServiceClient {
    return this.newClient({ "grpc.use_local_subchannel_pool": 1 });
  }

  // --- the spool ---------------------------------------------------------------

  private get maxSpoolBytes(): number {
    return this.options.maxSpoolBytes ?? 64 * 1024 * 1024;
  }

  private get spoolRetryMs(): number {
    return this.options.spoolRetryMs ?? 5000;
  }

  /** Open the spool; on failure report it and try again later, with backoff. Direct delivery goes on meanwhile. */
  private openSpool(): void {
    this.spoolOpening = Spool.open({
      dir: this.options.spoolDir!,
      onError: (e) => this.spoolError(e),
      onSpace: () => this.wakeRoomWaiters(),
      placeholderRetentionMs: this.options.placeholderRetentionMs ?? DAY_MS,
      // Segments small enough that delivered ones can be removed well before the spool is full.
      segmentBytes: Math.max(4096, Math.min(4 * 1024 * 1024, Math.floor(this.maxSpoolBytes / 16))),
      rotateAfterBytes: Math.min(64 * 1024, Math.floor(this.maxSpoolBytes / 4)),
    }).then(
      (spool) => {
        this.spool = spool;
        this.senderClient ??= this.newSenderClient();
        const senderClient = this.senderClient;
        this.sender = new SpoolSender(
          spool,
          {
            send: (e) => this.send(e, senderClient),
            hostSending: () => this.hostSends > 0,
            isOutage,
            placeholderOf,
            onDelivered: (n) => this.count("delivered", n),
            onRejected: (_event, error) => {
              this.count("refused");
              this.report(asEmitError(error));
            },
            onOutage: (error, pending) =>
              this.report(
                new EmitError(
                  `the collector is unreachable; ${pending} events wait in the spool: ${describe(error)}`,
                  codeOf(error),
                  error,
                ),
              ),
            onRetry: (n) => this.count("retried", n),
            onSpoolError: (e) =>
              this.spoolError(
                e instanceof SpoolError
                  ? e
                  : new SpoolError(`spool delivery failed: ${(e as Error)?.message}`, "UNAVAILABLE", [], e),
              ),
          },
          { concurrency: this.options.senderConcurrency ?? 8, policy: this.retry, maxWaitMs: this.spoolRetryMs },
        );
        this.sender.start();
        return spool;
      },
      (e: unknown) => {
        this.spoolError(
          new SpoolError(
            `spool ${this.options.spoolDir} cannot be opened: ${(e as Error)?.message ?? e}; retrying, and delivering directly meanwhile`,
            "UNAVAILABLE",
            [],
            e,
          ),
        );
        if (!this.closed) {
          const wait = Math.min(
            this.spoolOpenBackoff.next({ code: status.UNAVAILABLE }, { budget: false }) ?? this.spoolRetryMs,
            this.spoolRetryMs,
          );
          this.spoolRetryTimer = setTimeout(() => this.openSpool(), wait);
          this.spoolRetryTimer.unref();
        }
        return undefined;
      },
    );
  }

  /** The open spool, waiting for an opening in progress; undefined while it cannot be opened. */
  private async spoolReady(): Promise<Spool | undefined> {
    if (this.spool) return this.spool;
    return this.spoolOpening?.catch(() => undefined);
  }

  private wakeRoomWaiters(): void {
    for (const wake of this.roomWaiters) wake();
    this.roomWaiters.clear();
  }

  private spoolError(error: SpoolError): void {
    this.count("spoolErrors");
    this.report(error);
  }

  // --- the host's side ---------------------------------------------------------

  private checkSize(bytes: number): void {
    const limit = this.options.maxEventBytes ?? 262_144;
    if (bytes > limit) {
      throw this.refuse(
        new EmitError(
          `event: is ${bytes} bytes; the collector accepts at most ${limit} (maxEventBytes): refused before sending`,
          status.INVALID_ARGUMENT,
        ),
      );
    }
  }

  /** Throw as EmitError, or, with neverThrow, report and return undefined. Tracks the call for close(). */
  private guard<T>(work: () => Promise<T | undefined>): Promise<T | undefined> {
    const run = (async () => {
      try {
        if (this.closed) throw new EmitError("the emitter is closed", undefined);
        return await work();
      } catch (e) {
        const error = asEmitError(e);
        if (error instanceof ValidationError) this.count("refused");
        if (!this.options.neverThrow) throw error;
        this.report(error);
        return undefined;
      }
    })();
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run)).catch(() => {});
    return run;
  }

  /** An event refused before sending: counted, and returned for throwing. */
  private refuse(error: Error): Error {
    this.count("refused");
    return error;
  }

  private count(counter: Counter, n = 1): void {
    this.counters[counter] += n;
  }

  private report(error: Error): void {
    try {
      this.options.onError?.(error);
    } catch {
      // the host's handler failing is no reason to throw either
    }
  }
}

function isPlaceholder(sessionId: string): boolean {
  return sessionId.startsWith(PLACEHOLDER_PREFIX);
}

function placeholderOf(start: SessionStartEventJson | SessionEndEventJson): string {
  return `${PLACEHOLDER_PREFIX}${(start as SessionStartEventJson).event_id}`;
}

/** The collector did not answer (down, unreachable, too slow, or the breaker is open). */
function isOutage(error: unknown): boolean {
  return isRetryable(error) || error instanceof CircuitOpenError;
}

function codeOf(error: unknown): status | undefined {
  if (error instanceof EmitError) return error.status;
  const code = (error as Partial<ServiceError>)?.code;
  return typeof code === "number" ? code : error instanceof CircuitOpenError ? status.UNAVAILABLE : undefined;
}

function describe(error: unknown): string | undefined {
  if (error === undefined) return undefined;
  const grpc = error as Partial<ServiceError>;
  return typeof grpc.code === "number"
    ? `${status[grpc.code]}: ${grpc.details}`
    : ((error as Error)?.message ?? String(error));
}

function asEmitError(e: unknown): Error {
  if (e instanceof EmitError || e instanceof ValidationError || e instanceof SpoolError) return e;
  const grpc = e as Partial<ServiceError>;
  if (typeof grpc?.code === "number") return new EmitError(`${status[grpc.code]}: ${grpc.details}`, grpc.code, e);
  return new EmitError((e as Error)?.message ?? String(e), undefined, e);
}
