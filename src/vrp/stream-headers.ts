/**
 * The gRPC metadata of a VRP producer's handshake (see vrp_service.proto),
 * named once for the server and the client: a producer names itself in
 * `x-producer-id`; the server answers, in its initial metadata, the last
 * producer_sequence it has judged from that producer.
 */
export const PRODUCER_ID_KEY = "x-producer-id";
export const LAST_PRODUCER_SEQUENCE_KEY = "x-last-producer-sequence";
