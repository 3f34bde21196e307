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
 * Subscribe (server streaming): a cursor over the log (store/log-cursor.ts).
 * It reads from the requested position to the end, then waits for the log
 * to grow and reads on from the byte where it stopped: the replay and the
 * live part are one cursor, so there is no gap and no duplicate at the
 * seam, each wake-up costs only the new records, and a slow consumer holds
 * no buffer (writes wait for the consumer; the log is the buffer). A
 * position retention removed answers OUT_OF_RANGE, naming the oldest held.
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
  StreamEventsRequest,
  StreamEventsResponse,
  SubscribeRequest,
  SubscribeResponse,
  VrpStreamServiceService,
} from "../../gen/vrp/v1alpha1/vrp_service.js";
import type { EventLog } from "../store/event-log.js";
import { LogOutOfRangeError } from "../store/errors.js";
import { followLog } from "../store/follow.js";
import type { LogFollower } from "../store/event-log.js";
import {
  vrpEventOf,
  type Accepted,
  type Deferred,
  type Duplicate,
  type Refused,
  type VrpIntake,
} from "../collector/vrp-hub.js";
import type { CollectorMetrics } from "../metrics/collector-metrics.js";
import { LAST_PRODUCER_SEQUENCE_KEY, PRODUCER_ID_KEY } from "../vrp/stream-headers.js";
import type { Logger } from "./logger.js";
import { OpenStreams } from "./open-streams.js";
import { toServiceError } from "./rich-error.js";
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
  return {
    streamEvents(call: ServerDuplexStream<Decoded<StreamEventsRequest>, StreamEventsResponse>): void {
      let closing: string | undefined; // shutting down: judge nothing more, answer what was judged, then UNAVAILABLE
      let paused = false;
      let index = 0n;
      let accepted = 0n;
      let waiting = 0; // requests whose answer has not left yet (any kind: all hold memory)
      let clientDone = false;
      let failed = false;

      // Handshake: a producer that names itself learns where its numbering stands.
      const producerId = call.metadata.get(PRODUCER_ID_KEY)[0];
      // (A replica learns it from the shared log first: the answers wait behind it.)
      const sendHandshake = (last: bigint) => {
        const metadata = new Metadata();
        metadata.set(LAST_PRODUCER_SEQUENCE_KEY, last.toString());
        call.sendMetadata(metadata);
      };
      let answers: Promise<void> = Promise.resolve(); // answers leave in arrival order
      if (typeof producerId === "string" && producerId) {
        const last = hub.lastProducerSequence(producerId);
        if (typeof last === "bigint") sendHandshake(last);
        else answers = last.then(sendHandshake);
      }

      const send = async (response: StreamEventsResponse): Promise<void> => {
        if (failed || call.cancelled) return;
        if (!call.write(response)) await new Promise((r) => call.once("drain", r));
      };
      const flowControl = () => {
        paused = closing !== undefined || waiting >= WINDOW;
        if (paused) call.pause();
        else call.resume();
      };
      const finishIfDone = () => {
        if (waiting > 0 || failed) return;
        if (closing !== undefined) {
          failed = true; // nothing more goes out
          void answers.then(() =>
            call.emit("error", { code: status.UNAVAILABLE, details: closing } satisfies Partial<ServiceError>),
          );
        } else if (clientDone) void answers.then(() => call.end());
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
      /** Queue the answer to one request; reading pauses while too many wait. */
      const answer = (work: () => Promise<void>) => {
        waiting++;
        flowControl();
        answers = answers
          .then(work)
          .catch((e: unknown) => {
            if (failed) return;
            failed = true;
            logger.error("event log append failed", { error: String(e) });
            call.emit("error", {
              code: status.UNAVAILABLE,
              details: `the event could not be stored: ${(e as Error).message}`,
            } satisfies Partial<ServiceError>);
          })
          .finally(() => {
            waiting--;
            flowControl();
            finishIfDone();
          });
      };

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
        const respond = async (judged: Accepted | Duplicate | Refused): Promise<void> => {
          switch (judged.kind) {
            case "refused": {
              const { reason, code, issues } = judged;
              const rejection = { index: position, reason, code, fieldViolations: [...issues] };
              await send(StreamEventsResponse.fromPartial({ kind: { $case: "rejection", value: rejection } }));
              return;
            }
            case "duplicate": {
              // Stored already (or being stored): acknowledge it where it is, once it is durable.
              await judged.durable;
              await send(ack(accepted, judged.sequence, request.producerSequence));
              return;
            }
            case "accepted": {
              const { durable, derivedMessages, sequence } = judged;
              await durable;
              accepted++;
              metrics?.eventStored("vrp", request.event!.eventType);
              for (const value of derivedMessages) metrics?.eventStored("vrp", value.eventType, "derived");
              for (const value of derivedMessages) {
                await send(
                  StreamEventsResponse.fromPartial({
                    kind:
                      value.eventType === "AUDIT_EVENT" ? { $case: "audit", value } : { $case: "stateChange", value },
                  }),
                );
              }
              await send(ack(accepted, sequence, request.producerSequence));
            }
          }
        };
        const judged = outcome;
        answer(async () => respond(judged.kind === "deferred" ? await judged.outcome : judged));
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
      let wake: (() => void) | undefined; // the log grew (or we stop)
      let drained: (() => void) | undefined; // the consumer read (or we stop)
      let stopped = false;
      const stopListening = log.subscribe(() => wake?.());
      const stop = () => {
        stopped = true;
        wake?.();
        drained?.();
      };
      call.on("cancelled", stop);
      call.on("close", stop);
      let records: LogFollower | undefined; // made in follow(): a removed position throws there, answered OUT_OF_RANGE
      const remove = streams.add({
        kind: "Subscribe",
        heldBack: () => drained !== undefined,
        position: () => (records ? records.position - 1n : afterSequence),
        close(details) {
          stop();
          call.emit("error", { code: status.UNAVAILABLE, details } satisfies Partial<ServiceError>);
        },
      });

      const follow = async () => {
        // Replay and live part are one cursor: it resumes at the byte where it
        // stopped, so each wake-up reads only the records made durable since.
        const follower = followLog(log, afterSequence + 1n);
        records = follower;
        while (!stopped) {
          for await (const record of follower.records()) {
            if (stopped) return;
            const entry = LogEntry.decode(record.payload);
            const event = vrpEventOf(entry);
            if (
              !event ||
              (sessionId && event.sessionId !== sessionId) ||
              (types.size > 0 && !types.has(event.eventType))
            )
              continue;
            const derived = entry.entry?.$case === "vrpDerived";
            if (!call.write(SubscribeResponse.fromPartial({ sequence: record.sequence, event, derived }))) {
              // Wait for the consumer only: log growth must not push more into a full stream.
              await new Promise<void>((resolve) => {
                const done = () => {
                  call.off("drain", done);
                  drained = undefined;
                  resolve();
                };
                drained = done;
                call.once("drain", done);
              });
            }
          }
          // Caught up: wait for the log to grow (checked after arming, so no append is missed).
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (stopped || log.lastSequence >= follower.position) resolve();
          });
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
          stopListening();
          remove();
          if (!stopped) call.end();
        });
    },
  };
}

function ack(acceptedCount: bigint, sequence: bigint, producerSequence: bigint): StreamEventsResponse {
  return StreamEventsResponse.fromPartial({
    kind: { $case: "ack", value: { acceptedCount, sequence, producerSequence } },
  });
}
