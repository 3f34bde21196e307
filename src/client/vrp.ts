/**
 * VRP stream clients.
 *
 * VrpProducer sends events over StreamEvents. `send` resolves once the
 * collector has stored the event (its Ack), or rejects with the collector's
 * reason (a Rejection). At most `window` events wait for their Ack at once:
 * `send` waits for room (backpressure). If the stream breaks, the producer
 * reconnects with backoff and resends every unacknowledged event; its
 * producer_id and producer_sequence let the collector store none twice.
 * `handshake` tells where the collector's numbering of this producer stands
 * (a sender that numbers the events of a file resumes after it), and
 * `withhold` keeps the numbering one per event when an event fails a check
 * before it could be sent.
 *
 * subscribeVrp reads Subscribe as an async iterator, from a log position on,
 * and continues live. If the stream breaks, it reconnects and resumes after
 * the last sequence it yielded: nothing lost, nothing twice.
 */
import { randomUUID } from "node:crypto";
import { status, type ClientDuplexStream, type Metadata, type ServiceError } from "@grpc/grpc-js";
import { bridges } from "../bridge/index.js";
import type { VrpEventJson } from "../contract/types.js";
import type { VrpEvent } from "../../gen/vrp/v1alpha1/vrp_event.js";
import {
  StreamEventsRequest,
  SubscribeRequest,
  VrpStreamServiceClient,
  type StreamEventsResponse,
  type SubscribeResponse,
} from "../../gen/vrp/v1alpha1/vrp_service.js";
import { authMetadata, channelCredentials, channelTarget, type TlsOptions } from "./connection.js";
import { Backoff, retryPolicy, type RetryPolicy } from "./retry.js";
import { ERROR_CODES, SessionEventsError, type ErrorCode, type ValidationIssue } from "../errors.js";
import { COALESCE_ACKS_KEY, LAST_PRODUCER_SEQUENCE_KEY, PRODUCER_ID_KEY } from "../vrp/stream-headers.js";

/** Where the collector is and how to reach it (token, TLS, reconnection). */
export interface VrpConnectionOptions {
  readonly target: string;
  readonly token?: string;
  readonly tls?: boolean | TlsOptions;
  /** Reconnection backoff (the one retry policy, retry.ts): the budget counts from the first failure in a row. */
  readonly reconnect?: Partial<RetryPolicy>;
}

/** Options of a VrpProducer. */
export interface VrpProducerOptions extends VrpConnectionOptions {
  /** Stable identity for resume without duplicates. Default: a random UUID (resume within this process). */
  readonly producerId?: string;
  /** Most events awaiting their Ack at once. Default 256. */
  readonly window?: number;
}

/**
 * The collector refused an event (it stays refused: do not resend it as is).
 * `code` is the refusal's gRPC status name and `issues` each field and rule
 * broken, as the collector's Rejection carried them.
 */
export class VrpRejectedError extends SessionEventsError {
  override readonly name = "VrpRejectedError";

  constructor(
    reason: string,
    /** The refused event's producer_sequence. */
    readonly producerSequence?: bigint,
    options: { readonly code?: ErrorCode; readonly issues?: readonly ValidationIssue[] } = {},
  ) {
    super(reason, { code: options.code ?? "INVALID_ARGUMENT", issues: options.issues });
  }
}

/** A Rejection's code, if it is a status name this client knows (a collector older than the field sends none). */
function rejectionCode(code: string): ErrorCode | undefined {
  return (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : undefined;
}

/** What an Ack tells of one event. */
export interface VrpAck {
  /** Where the event is stored in the collector's log. */
  readonly sequence: bigint;
  /** The number this producer gave it. */
  readonly producerSequence: bigint;
}

interface Pending {
  readonly request: StreamEventsRequest;
  readonly resolve: (ack: VrpAck) => void;
  readonly reject: (error: Error) => void;
}

/** A stream is worth more patience than one call: up to 30 s of reconnecting. */
const RECONNECT: Partial<RetryPolicy> = { initialIntervalMs: 100, maxIntervalMs: 3000, maxElapsedMs: 30_000 };

/** A stream that ended without an error (the collector went away): as retryable as UNAVAILABLE. */
const ENDED = { code: status.UNAVAILABLE, details: "the stream ended" };

/**
 * Streams VRP events to a collector: each `send` resolves with its Ack once stored, or rejects with VrpRejectedError; reconnects and resends what was not acknowledged.
 *
 * @example
 * ```ts
 * import { VrpProducer } from "session-events/client";
 * const producer = new VrpProducer({ target: "127.0.0.1:50051", producerId: "edge-1" });
 * await producer.send({ ts_ms: Date.now(), event_type: "SESSION_CREATED", session_id: "s-1" });
 * await producer.close();
 * ```
 */
export class VrpProducer {
  readonly producerId: string;
  private readonly client: VrpStreamServiceClient;
  private readonly window: number;
  private readonly backoff: Backoff;
  /** Whether the last reconnection failed too: the backoff's budget runs from the first failure in a row. */
  private failing = false;
  private readonly pending = new Map<bigint, Pending>();
  private readonly roomWaiters: (() => void)[] = [];
  /** Created by the first derived() call: nobody listening, nothing kept. */
  private derivedQueue: AsyncQueue<VrpEventJson> | undefined;
  private call: ClientDuplexStream<StreamEventsRequest, StreamEventsResponse> | undefined;
  private next = 1n;
  /** Resolved by the first handshake: the collector told us where our numbering stands. */
  private readonly started: Promise<void>;
  private startedResolve!: () => void;
  private startedReject!: (e: Error) => void;
  private handshaken = false;
  /** The last producer_sequence the collector had judged from us when we first connected. */
  private lastJudged = 0n;
  private closing = false;
  private shut = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed: Promise<void> | undefined;
  private finish: (() => void) | undefined;

  constructor(private readonly options: VrpProducerOptions) {
    this.producerId = options.producerId ?? randomUUID();
    this.window = options.window ?? 256;
    this.backoff = new Backoff(retryPolicy({ ...RECONNECT, ...options.reconnect }));
    this.client = new VrpStreamServiceClient(channelTarget(options.target), channelCredentials(options.tls), {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 3000,
    });
    this.started = new Promise((resolve, reject) => {
      this.startedResolve = resolve;
      this.startedReject = reject;
    });
    this.started.catch(() => {}); // reported through send()
  }

  /** Send one event; resolves with its log sequence (and its producer_sequence) once stored. */
  async send(event: VrpEventJson): Promise<VrpAck> {
    if (this.closing) throw new SessionEventsError("the producer is closing", { code: "FAILED_PRECONDITION" });
    const message = bridges.VrpEvent.fromJson(event); // a ValidationError here never reaches the wire
    return this.enqueue(message);
  }

  /**
   * Connect (if not yet) and return the last producer_sequence the collector
   * had judged from this producer_id when this producer first connected (0
   * for a new one): the next send takes the number after it. A sender that
   * numbers a file's events 1..N skips the first ones this covers.
   */
  async handshake(): Promise<bigint> {
    if (!this.handshaken) {
      this.stream();
      await this.started;
    }
    return this.lastJudged;
  }

  /**
   * Take the next producer_sequence for an event that will not be sent (it
   * failed a check before it could be), and have the collector judge the
   * number as an empty request, which it refuses: the number is consumed,
   * so the events after it keep their numbers. Resolves with the number
   * once the collector has judged it.
   */
  async withhold(): Promise<bigint> {
    if (this.closing) throw new SessionEventsError("the producer is closing", { code: "FAILED_PRECONDITION" });
    try {
      const ack = await this.enqueue(undefined);
      throw new SessionEventsError(
        `the collector stored an empty request under producer_sequence ${ack.producerSequence}`,
        { code: "INTERNAL" },
      );
    } catch (e) {
      if (e instanceof VrpRejectedError && e.producerSequence !== undefined) return e.producerSequence;
      throw e;
    }
  }

  private async enqueue(message: VrpEvent | undefined): Promise<VrpAck> {
    if (!this.handshaken) {
      this.stream();
      await this.started; // a restarted producer with the same id goes on after its last number
    }
    while (this.pending.size >= this.window) await new Promise<void>((r) => this.roomWaiters.push(r));
    const producerSequence = this.next++;
    const request = StreamEventsRequest.fromPartial({ event: message, producerId: this.producerId, producerSequence });
    return new Promise((resolve, reject) => {
      this.pending.set(producerSequence, { request, resolve, reject });
      this.stream().write(request);
    });
  }

  /**
   * STATE_CHANGE and AUDIT_EVENT events the collector answered with, from now
   * on, as they come. Read it as you send: what is not read is kept.
   */
  derived(): AsyncIterable<VrpEventJson> {
    this.derivedQueue ??= new AsyncQueue<VrpEventJson>();
    return this.derivedQueue;
  }

  /** Wait for every Ack, then close the stream. */
  close(): Promise<void> {
    this.closing = true;
    this.closed ??= (async () => {
      if (this.pending.size > 0) await new Promise<void>((r) => (this.finish = r));
      this.shut = true;
      this.startedReject(new Error("the producer was closed before the collector answered")); // nothing if it had
      clearTimeout(this.reconnectTimer);
      this.call?.end();
      this.client.close();
      this.derivedQueue?.end();
    })();
    return this.closed;
  }

  private stream(): ClientDuplexStream<StreamEventsRequest, StreamEventsResponse> {
    if (this.call) return this.call;
    const metadata = authMetadata(this.options.token);
    metadata.set(PRODUCER_ID_KEY, this.producerId);
    metadata.set(COALESCE_ACKS_KEY, "1");
    const call = this.client.streamEvents(metadata);
    this.call = call;
    call.once("metadata", (received: Metadata) => {
      if (this.handshaken) return;
      const last = BigInt(String(received.get(LAST_PRODUCER_SEQUENCE_KEY)[0] ?? "0"));
      this.lastJudged = last;
      if (this.next <= last) this.next = last + 1n;
      this.handshaken = true;
      this.startedResolve();
    });
    call.on("data", (response: StreamEventsResponse) => this.onResponse(response));
    call.on("error", (error: ServiceError) => this.onBroken(call, error));
    call.on("end", () => this.onBroken(call, undefined));
    return call;
  }

  private onResponse(response: StreamEventsResponse): void {
    this.failing = false;
    const kind = response.kind;
    if (!kind) return;
    switch (kind.$case) {
      case "ack": {
        // A coalesced Ack answers the oldest pending events in the order they were sent, one log
        // sequence each; from a collector that does not coalesce, `sequences` is empty.
        const { sequences, sequence, producerSequence } = kind.value;
        let i = 0;
        for (const [seq, p] of this.pending) {
          if (seq > producerSequence) break;
          this.pending.delete(seq);
          p.resolve({ sequence: sequences[i++] ?? sequence, producerSequence: seq });
        }
        break;
      }
      case "rejection": {
        const p = this.pending.get(kind.value.index);
        this.pending.delete(kind.value.index);
        const { reason, index, code, fieldViolations } = kind.value;
        p?.reject(new VrpRejectedError(reason, index, { code: rejectionCode(code), issues: fieldViolations }));
        break;
      }
      case "audit":
      case "stateChange":
        this.derivedQueue?.push(bridges.VrpEvent.toJson(kind.value));
        break;
    }
    this.afterProgress();
  }

  private afterProgress(): void {
    while (this.pending.size < this.window && this.roomWaiters.length > 0) this.roomWaiters.shift()!();
    if (this.pending.size === 0) this.finish?.();
  }

  /** The stream ended or failed: reconnect and resend what is unacknowledged, or give up. */
  private onBroken(
    call: ClientDuplexStream<StreamEventsRequest, StreamEventsResponse>,
    error: ServiceError | undefined,
  ): void {
    if (this.call !== call) return;
    this.call = undefined;
    if (this.shut) return; // closed: no reconnection (its timer would hold the process)
    if (this.pending.size === 0 && (this.closing || !error) && this.handshaken) return;
    if (!this.failing) this.backoff.reset();
    this.failing = true;
    const wait = this.backoff.next(error ?? ENDED);
    if (wait === undefined) {
      const reason = error ? `${status[error.code]}: ${error.details}` : "the stream ended";
      this.startedReject(new Error(`VRP stream failed: ${reason}`));
      for (const p of this.pending.values()) p.reject(new Error(`VRP stream failed: ${reason}`));
      this.pending.clear();
      this.afterProgress();
      return;
    }
    this.reconnectTimer = setTimeout(() => {
      if (this.shut || this.call) return;
      const stream = this.stream();
      for (const p of this.pending.values()) stream.write(p.request);
    }, wait);
  }
}

/** What subscribeVrp reads: which session, which event types, from which log position. */
export interface SubscribeOptions extends VrpConnectionOptions {
  readonly sessionId?: string;
  readonly eventTypes?: readonly string[];
  /** Start after this log sequence (0: from the beginning). */
  readonly afterSequence?: bigint;
}

/**
 * Every matching VRP event from a log position on, live; reconnects and resumes after the last one yielded
 * (none is yielded twice, none skipped, also where several records share a position). A position that
 * retention removed throws at once (a ServiceError, OUT_OF_RANGE, naming the oldest position held).
 * @example
 * ```ts
 * import { subscribeVrp } from "session-events/client";
 * for await (const { sequence, event } of subscribeVrp({ target: "127.0.0.1:50051", sessionId: "s-1" })) console.log(sequence, event.event_type);
 * ```
 */
export async function* subscribeVrp(
  options: SubscribeOptions,
): AsyncGenerator<{ sequence: bigint; event: VrpEventJson; derived: boolean }> {
  const client = new VrpStreamServiceClient(channelTarget(options.target), channelCredentials(options.tls), {
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 3000,
  });
  const backoff = new Backoff(retryPolicy({ ...RECONNECT, ...options.reconnect }));
  // Where to resume: the position of the last record yielded, and how many were yielded at it (an
  // engine that stores an event and what it caused as one group, JetStream, gives them one position;
  // a stream can break between them, so a resume starts at that position again and skips those).
  let last = options.afterSequence ?? 0n;
  let yieldedAtLast = 0;
  let failing = false;
  try {
    const nextWait = (error: unknown) => {
      if (!failing) backoff.reset();
      failing = true;
      return backoff.next(error);
    };
    for (;;) {
      let wait: number | undefined;
      const call = client.subscribe(
        SubscribeRequest.fromPartial({
          sessionId: options.sessionId ?? "",
          eventTypes: [...(options.eventTypes ?? [])],
          afterSequence: yieldedAtLast > 0 ? last - 1n : last,
        }),
        authMetadata(options.token),
      );
      let skip = yieldedAtLast;
      try {
        for await (const response of call as AsyncIterable<SubscribeResponse>) {
          failing = false;
          if (skip > 0 && response.sequence === last) {
            skip--; // yielded before the stream broke
            continue;
          }
          skip = 0;
          if (response.sequence === last) yieldedAtLast++;
          else {
            last = response.sequence;
            yieldedAtLast = 1;
          }
          yield {
            sequence: response.sequence,
            event: bridges.VrpEvent.toJson(response.event!),
            derived: response.derived,
          };
        }
        // A subscription never ends by itself: the collector went away (shutting down).
        wait = nextWait(ENDED);
        if (wait === undefined) return;
      } catch (e) {
        // OUT_OF_RANGE: retention removed the position to resume from, and asking again cannot bring
        // it back (the policy retries it for OTLP's sake): the caller decides where to go on from.
        if ((e as ServiceError).code === status.OUT_OF_RANGE) throw e;
        // UNAVAILABLE: unreachable; CANCELLED (not by us): the collector cut the stream on shutdown.
        wait = nextWait(e);
        if (wait === undefined) throw e;
      } finally {
        call.cancel();
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  } finally {
    client.close();
  }
}

/** A small unbounded async queue (the derived events are few: at most a handful per event sent). */
class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((r: IteratorResult<T>) => void)[] = [];
  private done = false;

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter({ value: item, done: false });
    else this.items.push(item);
  }

  end(): void {
    this.done = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => this.waiters.push(r));
      },
    };
  }
}
