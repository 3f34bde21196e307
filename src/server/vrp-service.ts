/**
 * VrpStreamService over grpc-js.
 *
 * StreamEvents (bidirectional): each producer event is validated and handed
 * to the hub as it arrives; the answers go back on the same call, in order:
 * for an accepted event, what it caused (STATE_CHANGE, AUDIT_EVENT), then a
 * cumulative Ack, each only once durable; for an invalid one, a Rejection
 * with the reason (the stream stays open). Backpressure: reading pauses while
 * WINDOW events wait for the disk or the producer is not reading its answers,
 * so neither a fast producer nor a slow disk grows memory without bound.
 *
 * Subscribe (server streaming): a cursor over the log (store/log-cursor.ts)
 * reads from the requested position to the end; then the subscriber joins
 * the shared live tail (live-tail.ts), which reads and decodes each new
 * record once for every caught-up subscriber. Positions are tracked per
 * subscriber, so there is no gap and no duplicate at either seam. A slow
 * consumer leaves the tail when its stream is full and catches up on its own
 * cursor once it reads again: it holds no buffer (the log is the buffer) and
 * never holds the others back. A position retention removed answers
 * OUT_OF_RANGE, naming the oldest held.
 */
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  Metadata,
  status,
  type ServerDuplexStream,
  type ServerWritableStream,
  type ServiceDefinition,
  type ServiceError,
} from "@grpc/grpc-js";
import { vrpEventMapping } from "../bridge/mapping.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import {
  type Ack,
  StreamEventsRequest,
  StreamEventsResponse,
  SubscribeRequest,
  SubscribeResponse,
  VrpStreamServiceService,
} from "../../gen/vrp/v1alpha1/vrp_service.js";
import type { EventLog } from "../store/event-log.js";
import { LogOutOfRangeError } from "../store/errors.js";
import { followLog } from "../store/follow.js";
import type { LogFollower, LogRecord } from "../store/event-log.js";
import {
  vrpEventOf,
  type Accepted,
  type Deferred,
  type Duplicate,
  type Refused,
  type VrpIntake,
} from "../collector/vrp-hub.js";
import type { CollectorMetrics } from "../metrics/collector-metrics.js";
import { COALESCE_ACKS_KEY, LAST_PRODUCER_SEQUENCE_KEY, PRODUCER_ID_KEY } from "../vrp/stream-headers.js";
import type { Logger } from "./logger.js";
import { LiveTail, type TailReader } from "./live-tail.js";
import { OpenStreams } from "./open-streams.js";
import { toServiceError } from "./rich-error.js";
import { CollectorError } from "../collector/errors.js";
import { requestMapping, strictly, type Decoded } from "./strict-decode.js";

/**
 * Answers are encoded with one writer, reused (encoding is synchronous):
 * the generated serializer grows a fresh writer from 128 bytes and then
 * copies its result once more into a Buffer, for every Ack.
 */
const answerWriter = new BinaryWriter();
function serializeAnswer(value: StreamEventsResponse): Buffer {
  try {
    const bytes = StreamEventsResponse.encode(value, answerWriter).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (e) {
    answerWriter.finish(); // reset: a half-written answer must not lead the next one
    throw e;
  }
}

/** The generated definition, with strict request decoding. */
export const vrpServiceDefinition = {
  ...VrpStreamServiceService,
  streamEvents: {
    ...VrpStreamServiceService.streamEvents,
    requestDeserialize: strictly(
      requestMapping("vrp.v1alpha1.StreamEventsRequest", vrpEventMapping),
      StreamEventsRequest,
    ),
    responseSerialize: serializeAnswer,
  },
  subscribe: {
    ...VrpStreamServiceService.subscribe,
    requestDeserialize: strictly(requestMapping("vrp.v1alpha1.SubscribeRequest"), SubscribeRequest),
  },
} as unknown as ServiceDefinition;

/** Requests whose answer may wait at once, per stream (for the disk, or for the producer to read). */
export const WINDOW = 256;

/**
 * `streams`: where open streams are registered, so that a shutdown ends them
 * (and metrics see them); `metrics`: counts each event stored.
 */
export function vrpServiceHandlers(
  hub: VrpIntake,
  log: EventLog,
  logger: Logger,
  streams = new OpenStreams(),
  metrics?: CollectorMetrics,
) {
  const tail = new LiveTail(log);
  return {
    streamEvents(call: ServerDuplexStream<Decoded<StreamEventsRequest>, StreamEventsResponse>): void {
      let closing: string | undefined; // shutting down: judge nothing more, answer what was judged, then UNAVAILABLE
      let paused = false;
      let index = 0n;
      let accepted = 0n;
      let clientDone = false;
      let failed = false;
      /**
       * Answers not sent yet, in arrival order (any kind: all hold memory).
       * Each leaves once it is ready (what it waits for is durable) and all
       * before it have left: one callback per event, not a chain of promises.
       */
      const queue = new AnswerQueue();
      let blocked = false; // the transport pushed back: the next answer waits for 'drain'
      let sending = false;
      // With x-coalesce-acks, an Ack is held until the answers ready now have been written: the next
      // Ack absorbs it (its log sequence joins `sequences`), so a group commit costs one HTTP/2
      // message, not one per event. Anything else written first lets it go, so order is kept.
      const coalesce = coalesceAcksAsked(call.metadata);
      if (coalesce instanceof CollectorError) {
        call.emit("error", toServiceError(coalesce));
        return;
      }
      let heldAck: StreamEventsResponse | undefined;
      let heldSequences: bigint[] = [];

      const flowControl = () => {
        const pause = closing !== undefined || queue.length >= WINDOW;
        if (pause === paused) return;
        paused = pause;
        if (paused) call.pause();
        else call.resume();
      };
      const finishIfDone = () => {
        if (queue.length > 0 || failed) return;
        if (closing !== undefined) {
          failed = true; // nothing more goes out
          const details = closing;
          void Promise.resolve().then(() =>
            call.emit("error", { code: status.UNAVAILABLE, details } satisfies Partial<ServiceError>),
          );
        } else if (clientDone) void Promise.resolve().then(() => call.end());
      };
      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        logger.error("event log append failed", { error: String(e) });
        call.emit("error", {
          code: status.UNAVAILABLE,
          details: `the event could not be stored: ${(e as Error)?.message}`,
        } satisfies Partial<ServiceError>);
      };
      const onDrain = () => {
        blocked = false;
        sendReady();
      };
      const write = (response: StreamEventsResponse) => {
        if (!call.write(response) && !blocked) {
          blocked = true; // the rest of this answer is buffered; the next one waits
          call.once("drain", onDrain);
        }
      };
      const releaseHeldAck = () => {
        if (heldAck === undefined) return;
        (heldAck.kind as { value: Ack }).value.sequences = heldSequences;
        const response = heldAck;
        heldAck = undefined;
        heldSequences = [];
        if (!failed && !call.cancelled) write(response);
      };
      /** Send the answers at the head of the queue that are ready, in order, until the transport pushes back. */
      const sendReady = () => {
        if (sending) return; // a write's side effects must not re-enter
        sending = true;
        try {
          while (!blocked) {
            const next = queue.head();
            if (next === undefined || next.state === "waiting") break;
            queue.shift();
            if (next.state === "failed") {
              releaseHeldAck(); // what was durable before the failure is acknowledged
              fail(next.error);
              continue;
            }
            const responses = next.responses(); // counts it as stored, whether or not the stream is still there
            if (failed || call.cancelled) continue;
            for (const response of responses) {
              if (coalesce && response.kind?.$case === "ack") {
                heldSequences.push(response.kind.value.sequence);
                heldAck = response;
                continue;
              }
              releaseHeldAck();
              write(response);
            }
          }
          releaseHeldAck();
        } finally {
          sending = false;
        }
        flowControl();
        finishIfDone();
      };
      const remove = streams.add({
        kind: "StreamEvents",
        heldBack: () => paused && closing === undefined,
        close(details) {
          closing = details;
          flowControl();
          finishIfDone();
        },
      });
      /** Queue the answer to one request, ready at once or once `durable` resolves. */
      const answer = (durable: Promise<void> | undefined, responses: () => StreamEventsResponse[]) => {
        const pending = queue.push(durable === undefined ? "ready" : "waiting", responses);
        if (durable === undefined) return sendReady();
        flowControl();
        durable.then(
          () => {
            pending.state = "ready";
            sendSoon();
          },
          (e: unknown) => {
            pending.state = "failed";
            pending.error = e;
            sendSoon();
          },
        );
      };
      /**
       * The answers one group commit made ready become ready in one run of
       * microtasks: send them once it is over, together (one Ack for them all
       * when coalescing), not one by one as each becomes ready.
       */
      let sendQueued = false;
      const sendSoon = () => {
        if (sendQueued) return;
        sendQueued = true;
        queueMicrotask(() => {
          sendQueued = false;
          sendReady();
        });
      };

      // Handshake: a producer that names itself learns where its numbering stands.
      // (A replica learns it from the shared log first: the answers queue behind it.)
      const sendHandshake = (last: bigint) => {
        const metadata = new Metadata();
        metadata.set(LAST_PRODUCER_SEQUENCE_KEY, last.toString());
        call.sendMetadata(metadata);
      };
      const producerId = call.metadata.get(PRODUCER_ID_KEY)[0];
      if (typeof producerId === "string" && producerId) {
        const last = hub.lastProducerSequence(producerId);
        if (typeof last === "bigint") sendHandshake(last);
        else {
          let known = 0n;
          answer(
            last.then((l) => {
              known = l;
            }),
            () => {
              sendHandshake(known);
              return [];
            },
          );
        }
      }

      call.on("data", (decoded: Decoded<StreamEventsRequest>) => {
        // Read after the shutdown began: not judged, so not numbered; the producer resends it after reconnecting.
        if (closing !== undefined) return;
        // A refused request keeps what could be read of it (an oversized event's producer_sequence).
        const request = decoded.message ?? StreamEventsRequest.fromPartial(decoded.partial ?? {});
        const position = request.producerSequence || index;
        index++;
        let outcome: Accepted | Duplicate | Refused | Deferred;
        try {
          outcome = decoded.error
            ? hub.refuse(decoded.error, request.producerId, request.producerSequence)
            : hub.accept(request.event, request.producerId, request.producerSequence);
        } catch (e) {
          logger.error("internal error", { method: "StreamEvents", error: (e as Error).stack ?? String(e) });
          outcome = {
            kind: "refused" as const,
            reason: "internal error (see the collector's log)",
            code: "INTERNAL" as const,
            issues: [],
          };
        }
        /** The answers to the judged request, once what they depend on is durable (an acceptance counts it stored). */
        const responsesTo = (judged: Accepted | Duplicate | Refused): StreamEventsResponse[] => {
          switch (judged.kind) {
            case "refused": {
              const { reason, code, issues } = judged;
              const rejection = { index: position, reason, code, fieldViolations: [...issues] };
              return [StreamEventsResponse.fromPartial({ kind: { $case: "rejection", value: rejection } })];
            }
            case "duplicate":
              // Stored already (or being stored): acknowledge it where it is.
              return [ack(accepted, judged.sequence, request.producerSequence)];
            case "accepted": {
              const { derivedMessages, sequence } = judged;
              accepted++;
              metrics?.eventStored("vrp", request.event!.eventType);
              for (const value of derivedMessages) metrics?.eventStored("vrp", value.eventType, "derived");
              const responses = derivedMessages.map((value) =>
                StreamEventsResponse.fromPartial({
                  kind: value.eventType === "AUDIT_EVENT" ? { $case: "audit", value } : { $case: "stateChange", value },
                }),
              );
              responses.push(ack(accepted, sequence, request.producerSequence));
              return responses;
            }
          }
        };
        const durableOf = (judged: Accepted | Duplicate | Refused) =>
          judged.kind === "refused" ? undefined : judged.durable;
        if (outcome.kind !== "deferred") {
          const judged = outcome;
          answer(durableOf(judged), () => responsesTo(judged));
          return;
        }
        // Judged later (a replica on a shared log): its answer waits in line like the others.
        let judged: Accepted | Duplicate | Refused | undefined;
        answer(
          outcome.outcome.then((j) => {
            judged = j;
            return durableOf(j);
          }),
          () => responsesTo(judged!),
        );
      });
      call.on("end", () => {
        clientDone = true;
        finishIfDone();
      });
      call.on("error", () => {
        failed = true;
        remove();
      });
      call.on("finish", remove);
      call.on("cancelled", remove);
    },

    subscribe(call: ServerWritableStream<Decoded<SubscribeRequest>, SubscribeResponse>): void {
      if (call.request.error) {
        call.emit("error", toServiceError(call.request.error));
        return;
      }
      const { sessionId, eventTypes, afterSequence } = call.request.message;
      const types = new Set(eventTypes);
      let next = afterSequence + 1n; // the next position this subscriber is owed
      // The stream is full (a write returned false) until it drains: asked of the stream itself, as a
      // flag of our own went stale once a drain came and no write followed (only other sessions' records).
      const full = () => call.writableNeedDrain;
      let drained: (() => void) | undefined; // the consumer read (or we stop)
      let leave: ((error?: Error) => void) | undefined; // off the shared tail (full, failed, or stopping)
      let stopped = false;
      const stop = () => {
        stopped = true;
        drained?.();
        leave?.();
      };
      call.on("cancelled", stop);
      call.on("close", stop);
      const remove = streams.add({
        kind: "Subscribe",
        heldBack: () => drained !== undefined,
        position: () => next - 1n,
        close(details) {
          stop();
          call.emit("error", { code: status.UNAVAILABLE, details } satisfies Partial<ServiceError>);
        },
      });

      /** Send one record if it matches; false when the stream is full. */
      const send = (record: LogRecord, entry: LogEntry): boolean => {
        next = record.sequence + 1n;
        const event = vrpEventOf(entry);
        if (!event || (sessionId && event.sessionId !== sessionId) || (types.size > 0 && !types.has(event.eventType)))
          return true;
        const derived = entry.entry?.$case === "vrpDerived";
        return call.write(SubscribeResponse.fromPartial({ sequence: record.sequence, event, derived }));
      };
      const reader: TailReader = {
        get next() {
          return next;
        },
        offer: (records) => {
          for (const { record, entry } of records) send(record, entry);
          if (full()) leave?.();
          return !full();
        },
        failed: (error) => leave?.(error),
      };
      // Wait for the consumer only: log growth must not push more into a full stream.
      const consumerReads = () =>
        new Promise<void>((resolve) => {
          const done = () => {
            call.off("drain", done);
            drained = undefined;
            resolve();
          };
          drained = done;
          call.once("drain", done);
        });

      const follow = async () => {
        let cursor: LogFollower | undefined;
        let joined = false;
        const release = tail.retain();
        try {
          while (!stopped) {
            // Replay (or catch up after a full stream) on a cursor of its own:
            // it reads from the position owed to the end as of now.
            // Reused while it is where the subscriber stands: a new one costs a seek.
            // Not when the tail still keeps what it owes (it left the tail full, and the consumer read):
            // it catches up from there, on records decoded once for all.
            if (!tail.holds(next)) {
              if (cursor?.position !== next) cursor = followLog(log, next);
              for await (const record of cursor.records()) {
                if (stopped) return;
                if (!send(record, LogEntry.decode(record.payload))) await consumerReads();
              }
            }
            if (stopped) return;
            // Caught up: take new records from the shared tail until the stream
            // fills, the log fails or we stop (or read on alone if the tail is ahead).
            const error = await new Promise<Error | undefined>((resolve) => {
              leave = resolve;
              joined = tail.attach(reader, cursor);
              if (!joined) resolve(undefined);
            });
            leave = undefined;
            if (joined) cursor = undefined; // the tail may have taken it over; it is behind now anyway
            tail.detach(reader);
            if (error) throw error;
            if (full() && !stopped) await consumerReads();
          }
        } finally {
          release();
        }
      };
      follow()
        .catch((e: unknown) => {
          if (stopped) return;
          // Retention removed the position asked for (or reached while reading): say where the log starts now.
          if (e instanceof LogOutOfRangeError)
            call.emit("error", { code: status.OUT_OF_RANGE, details: e.message } satisfies Partial<ServiceError>);
          else
            call.emit("error", {
              code: status.UNAVAILABLE,
              details: `reading the event log failed: ${(e as Error).message}`,
            } satisfies Partial<ServiceError>);
        })
        .finally(() => {
          remove();
          if (!stopped) call.end();
        });
    },
  };
}

/** Whether the producer asked for coalesced Acks: "1" yes, "0" or absent no, anything else is refused. */
function coalesceAcksAsked(metadata: Metadata): boolean | CollectorError {
  const values = metadata.get(COALESCE_ACKS_KEY);
  if (values.length === 0 || (values.length === 1 && values[0] === "0")) return false;
  if (values.length === 1 && values[0] === "1") return true;
  const message = `must be "1" (coalesce Acks) or "0", once; got ${JSON.stringify(values.map(String))}`;
  return new CollectorError("INVALID_ARGUMENT", `${COALESCE_ACKS_KEY}: ${message}`, [
    { path: `/metadata/${COALESCE_ACKS_KEY}`, rule: "enum", message },
  ]);
}

function ack(acceptedCount: bigint, sequence: bigint, producerSequence: bigint): StreamEventsResponse {
  return StreamEventsResponse.fromPartial({
    kind: { $case: "ack", value: { acceptedCount, sequence, producerSequence } },
  });
}

/** One request's answer: sent once ready (what it waits for is durable) and every answer before it has left. */
interface PendingAnswer {
  state: "waiting" | "ready" | "failed";
  error?: unknown;
  /** The responses, made when it leaves (an Ack carries the count accepted so far). */
  readonly responses: () => StreamEventsResponse[];
}

/** A FIFO of pending answers (at most WINDOW and a few more): a ring, so taking the head costs no copy. */
class AnswerQueue {
  private items: (PendingAnswer | undefined)[] = new Array(WINDOW * 2);
  private first = 0;
  length = 0;

  push(state: PendingAnswer["state"], responses: PendingAnswer["responses"]): PendingAnswer {
    if (this.length === this.items.length) {
      // Grow: answers pile up only as far as flow control lets them, but a burst may overshoot it.
      const grown: (PendingAnswer | undefined)[] = new Array(this.items.length * 2);
      for (let i = 0; i < this.length; i++) grown[i] = this.items[(this.first + i) % this.items.length];
      this.items = grown;
      this.first = 0;
    }
    const pending: PendingAnswer = { state, responses };
    this.items[(this.first + this.length) % this.items.length] = pending;
    this.length++;
    return pending;
  }

  head(): PendingAnswer | undefined {
    return this.length > 0 ? this.items[this.first] : undefined;
  }

  shift(): void {
    this.items[this.first] = undefined;
    this.first = (this.first + 1) % this.items.length;
    this.length--;
  }
}
