/**
 * session-events/client: talking to a collector — the session event emitter
 * (retries, circuit breaker), the VRP producer and subscriber, and the errors
 * they throw.
 */
export {
  SessionEventEmitter,
  EmitError,
  SpoolError,
  type EmitterOptions,
  type EmitterStats,
  type MetricsRegistry,
  type TlsOptions,
} from "../client/emitter.js";
export { DEFAULT_RETRY, retryPolicy, type RetryPolicy } from "../client/retry.js";
export { CircuitOpenError } from "../client/circuit-breaker.js";
export {
  VrpProducer,
  VrpRejectedError,
  subscribeVrp,
  type VrpConnectionOptions,
  type VrpProducerOptions,
  type SubscribeOptions,
  type VrpAck,
} from "../client/vrp.js";
export { fieldViolations } from "../server/rich-error.js";
