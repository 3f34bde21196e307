/**
 * The baseline: a bare grpc-js server with the same SessionService definition
 * (ts-proto decoding the same message) that answers at once, validating and
 * storing nothing. Prints its port.
 *
 *   node bare-server.js [DURABLE_DIR RECORD_BYTES]
 *
 * With DURABLE_DIR (a directory of the caller's, which also removes it),
 * each call first appends RECORD_BYTES to a file there opened O_DSYNC, then
 * answers: the bare call plus one durable write, the
 * physical limit of a durable unary call that the collector's goal at one
 * call in flight is measured against. The write is made on the event loop
 * (a synchronous write), as the collector makes a lone append's: the quicker
 * of its two ways at one call in flight (docs/storage.md).
 */
import { constants, openSync, writeSync } from "node:fs";
import path from "node:path";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { SessionServiceService } from "../../gen/oneiric/session/v1/session_service.js";

const [durableDir, recordBytesText] = process.argv.slice(2);
const recordBytes = Number(recordBytesText);
if (durableDir !== undefined && !(recordBytes > 0)) throw new Error("usage: bare-server.js [DURABLE_DIR RECORD_BYTES]");

/** With DURABLE_DIR: the file each call appends to first, and the record it appends. */
const durable =
  durableDir === undefined
    ? undefined
    : {
        fd: openSync(
          path.join(durableDir, "log"),
          constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC,
        ),
        record: Buffer.alloc(recordBytes, 0x2a),
      };

const server = new Server();
const reply = { sessionId: "sess_00000000000000000000000000000000", status: "created" };
const answer = (_call: unknown, callback: (e: null, r: typeof reply) => void) => {
  if (durable) writeSync(durable.fd, durable.record); // durable when it returns (O_DSYNC)
  callback(null, reply);
};
server.addService(SessionServiceService, {
  emitSessionStart: answer,
  emitSessionEnd: answer,
  getSession: () => {},
  listSessions: () => {},
});
server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(port);
});
process.on("SIGTERM", () => server.forceShutdown());
