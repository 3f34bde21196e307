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
 * Subscribe (server streaming): a cursor over the log. It reads from the
 * requested position to the end, then waits for the log to grow and reads
 * on: the replay and the live part are one read of one sequence, so there is
 * no gap and no duplicate at the seam, and a slow consumer holds no buffer
 * (writes wait for the consumer; the log is the buffer).
 */
import { Metadata, status, type ServerDuplexStream, type ServerWritableStream, type ServiceDefinition, type ServiceError } from "@grpc/grpc-js";
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
import { vrpEventOf, type VrpHub } from "../vrp/hub.js";
import { LAST_PRODUCER_SEQUENCE_KEY, PRODUCER_ID_KEY } from "../vrp/stream-headers.js";
import type { Logger } from "./logger.js";
import { toServiceError } from "./rich-error.js";
import { requestMapping, strictly, type Decoded } from "./strict-decode.js";

/** The generated definition, with strict request decoding. */
export const vrpServiceDefinition = {
  ...VrpStreamServiceService,
  streamEvents: { ...VrpStreamServiceService.streamEvents, requestDeserialize: strictly(requestMapping("vrp.v1alpha1.StreamEventsRequest", vrpEventMapping), StreamEventsRequest) },
  subscribe: { ...VrpStreamServiceService.subscribe, requestDeserialize: strictly(requestMapping("vrp.v1alpha1.SubscribeRequest"), SubscribeRequest) },
} as unknown as ServiceDefinition;

/** Requests whose answer may wait at once, per stream (for the disk, or for the producer to read). */
export const WINDOW = 256;

export function vrpServiceHandlers(hub: VrpHub, log: EventLog, logger: Logger) {
  return {
    streamEvents(call: ServerDuplexStream<Decoded<StreamEventsRequest>, StreamEventsResponse>): void {
      let index = 0n;
      let accepted = 0n;
      let waiting = 0; // requests whose answer has not left yet (any kind: all hold memory)
      let clientDone = false;
      let failed = false;
      let answers: Promise<void> = Promise.resolve(); // answers leave in arrival order

      // Handshake: a producer that names itself learns where its numbering stands.
      const producerId = call.metadata.get(PRODUCER_ID_KEY)[0];
      if (typeof producerId === "string" && producerId) {
        const metadata = new Metadata();
        metadata.set(LAST_PRODUCER_SEQUENCE_KEY, hub.lastProducerSequence(producerId).toString());
        call.sendMetadata(metadata);
      }

      const send = async (response: StreamEventsResponse): Promise<void> => {
        if (failed || call.cancelled) return;
        if (!call.write(response)) await new Promise((r) => call.once("drain", r));
      };
      const flowControl = () => (waiting >= WINDOW ? call.pause() : call.resume());
      const finishIfDone = () => {
        if (clientDone && waiting === 0 && !failed) void answers.then(() => call.end());
      };
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
            call.emit("error", { code: status.UNAVAILABLE, details: `the event could not be stored: ${(e as Error).message}` } satisfies Partial<ServiceError>);
          })
          .finally(() => {
            waiting--;
            flowControl();
            finishIfDone();
          });
      };

      call.on("data", (decoded: Decoded<StreamEventsRequest>) => {
        // A refused request keeps what could be read of it (an oversized event's producer_sequence).
        const request = decoded.message ?? StreamEventsRequest.fromPartial(decoded.partial ?? {});
        const position = request.producerSequence || index;
        index++;
        let outcome;
        try {
          outcome = decoded.error
            ? hub.refuse(decoded.error.message, request.producerId, request.producerSequence)
            : hub.accept(request.event, request.producerId, request.producerSequence);
        } catch (e) {
          logger.error("internal error", { method: "StreamEvents", error: (e as Error).stack ?? String(e) });
          outcome = { kind: "refused" as const, reason: "internal error (see the collector's log)" };
        }
        switch (outcome.kind) {
          case "refused": {
            const { reason } = outcome;
            answer(() => send(StreamEventsResponse.fromPartial({ kind: { $case: "rejection", value: { index: position, reason } } })));
            return;
          }
          case "duplicate": {
            // Stored already (or being stored): acknowledge it where it is, once it is durable.
            const { durable, sequence } = outcome;
            answer(async () => {
              await durable;
              await send(ack(accepted, sequence, request.producerSequence));
            });
            return;
          }
          case "accepted": {
            const { durable, derivedMessages, sequence } = outcome;
            answer(async () => {
              await durable;
              accepted++;
              for (const value of derivedMessages) {
                await send(StreamEventsResponse.fromPartial({ kind: value.eventType === "AUDIT_EVENT" ? { $case: "audit", value } : { $case: "stateChange", value } }));
              }
              await send(ack(accepted, sequence, request.producerSequence));
            });
          }
        }
      });
      call.on("end", () => {
        clientDone = true;
        finishIfDone();
      });
      call.on("error", () => {
        failed = true;
      });
    },

    subscribe(call: ServerWritableStream<Decoded<SubscribeRequest>, SubscribeResponse>): void {
      if (call.request.error) {
        call.emit("error", toServiceError(call.request.error));
        return;
      }
      const { sessionId, eventTypes, afterSequence } = call.request.message;
      const types = new Set(eventTypes);
      let cursor = afterSequence;
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

      const follow = async () => {
        while (!stopped) {
          for await (const record of log.read(cursor + 1n)) {
            if (stopped) return;
            cursor = record.sequence;
            const entry = LogEntry.decode(record.payload);
            const event = vrpEventOf(entry);
            if (!event || (sessionId && event.sessionId !== sessionId) || (types.size > 0 && !types.has(event.eventType))) continue;
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
            if (stopped || log.lastSequence > cursor) resolve();
          });
        }
      };
      follow()
        .catch((e: unknown) => {
          if (!stopped) call.emit("error", { code: status.UNAVAILABLE, details: `reading the event log failed: ${(e as Error).message}` } satisfies Partial<ServiceError>);
        })
        .finally(() => {
          stopListening();
          if (!stopped) call.end();
        });
    },
  };
}

function ack(acceptedCount: bigint, sequence: bigint, producerSequence: bigint): StreamEventsResponse {
  return StreamEventsResponse.fromPartial({ kind: { $case: "ack", value: { acceptedCount, sequence, producerSequence } } });
}
