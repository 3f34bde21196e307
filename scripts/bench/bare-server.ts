/**
 * The baseline: a bare grpc-js server with the same SessionService definition
 * (ts-proto decoding the same message) that answers at once, validating and
 * storing nothing. Prints its port.
 */
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { SessionServiceService } from "../../gen/oneiric/session/v1/session_service.js";

const server = new Server();
const reply = { sessionId: "sess_00000000000000000000000000000000", status: "created" };
server.addService(SessionServiceService, {
  emitSessionStart: (_call: unknown, callback: (e: null, r: typeof reply) => void) => callback(null, reply),
  emitSessionEnd: (_call: unknown, callback: (e: null, r: typeof reply) => void) => callback(null, reply),
  getSession: () => {},
  listSessions: () => {},
});
server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(port);
});
process.on("SIGTERM", () => server.forceShutdown());
