/**
 * The baseline for the VRP stream: a bare grpc-js bidirectional echo with the
 * same service definition and messages, answering each event with an Ack at
 * once (no validation, no state machine, no disk). Prints its port.
 *
 * A producer that asks for coalesced Acks (x-coalesce-acks: 1) gets what the
 * collector would send with no disk at all: one Ack for everything read in
 * one turn of the event loop, listing each event's sequence.
 */
import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { COALESCE_ACKS_KEY } from "../../src/vrp/stream-headers.js";
import {
  StreamEventsResponse,
  VrpStreamServiceService,
  type StreamEventsRequest,
} from "../../gen/vrp/v1alpha1/vrp_service.js";

const server = new Server();
server.addService(VrpStreamServiceService, {
  streamEvents(call: ServerDuplexStream<StreamEventsRequest, StreamEventsResponse>) {
    let count = 0n;
    const ack = (sequences: bigint[]) =>
      StreamEventsResponse.fromPartial({
        kind: { $case: "ack", value: { acceptedCount: count, sequence: count, sequences } },
      });
    if (call.metadata.get(COALESCE_ACKS_KEY)[0] !== "1") {
      call.on("data", () => {
        count++;
        call.write(ack([]));
      });
    } else {
      let unanswered: bigint[] = [];
      const answer = () => {
        call.write(ack(unanswered));
        unanswered = [];
      };
      call.on("data", () => {
        count++;
        if (unanswered.push(count) === 1) setImmediate(answer);
      });
    }
    call.on("end", () => call.end());
  },
  subscribe() {},
});
server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(port);
});
process.on("SIGTERM", () => server.forceShutdown());
