/** session-events/archive: the protobuf log (or length-delimited messages) <-> JSON Lines archives, verified record by record. */
export * from "../archive/index.js";
export { OutputClosedError } from "../archive/sink.js";
export { RecordError } from "../archive/codec.js";
