/**
 * The baseline for the VRP stream: a bare grpc-js bidirectional echo with the
 * same service definition and messages, answering each event with an Ack at
 * once (no validation, no state machine, no disk). Prints its port.
 */
import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  StreamEventsResponse,
  VrpStreamServiceService,
  type StreamEventsRequest,
} from "../../gen/vrp/v1alpha1/vrp_service.js";

const server = new Server();
server.addService(VrpStreamServiceService, {
  streamEvents(call: ServerDuplexStream<StreamEventsRequest, StreamEventsResponse>) {
    let count = 0n;
    call.on("data", () => {
      count++;
      call.write(
        StreamEventsResponse.fromPartial({ kind: { $case: "ack", value: { acceptedCount: count, sequence: count } } }),
      );
    });
    call.on("end", () => call.end());
  },
  subscribe() {},
});
server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(port);
});
process.on("SIGTERM", () => server.forceShutdown());
