/**
 * The gRPC metadata of a VRP producer's handshake (see vrp_service.proto),
 * named once for the server and the client: a producer names itself in
 * `x-producer-id`; the server answers, in its initial metadata, the last
 * producer_sequence it has judged from that producer. A producer that reads
 * an Ack's `sequences` asks for coalesced Acks with `x-coalesce-acks: 1`.
 */
export const PRODUCER_ID_KEY = "x-producer-id";
export const LAST_PRODUCER_SEQUENCE_KEY = "x-last-producer-sequence";
export const COALESCE_ACKS_KEY = "x-coalesce-acks";
