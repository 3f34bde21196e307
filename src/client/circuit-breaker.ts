/**
 * A circuit breaker, so that a dead collector costs the host nothing: after
 * `failureThreshold` failures in a row it opens and calls fail at once for
 * `openMs`; then one trial call is let through (half-open), and its outcome
 * closes or reopens the circuit.
 */
import { SessionEventsError } from "../errors.js";

export interface BreakerPolicy {
  readonly failureThreshold: number;
  readonly openMs: number;
}

export const DEFAULT_BREAKER: BreakerPolicy = { failureThreshold: 3, openMs: 30_000 };

/** The circuit is open (code UNAVAILABLE): the call was not tried, the collector failed too often just now. */
export class CircuitOpenError extends SessionEventsError {
  override readonly name = "CircuitOpenError";
  constructor(message: string) {
    super(message, { code: "UNAVAILABLE" });
  }
}

export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trialInFlight = false;

  constructor(
    private readonly policy: BreakerPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): "closed" | "open" | "half-open" {
    if (this.failures < this.policy.failureThreshold) return "closed";
    return this.now() < this.openUntil ? "open" : "half-open";
  }

  /** Run `call`; errors for which `isOutage` is false mean the collector answered, and count as success. */
  async run<T>(call: () => Promise<T>, isOutage: (error: unknown) => boolean = () => true): Promise<T> {
    const state = this.state;
    if (state === "open" || (state === "half-open" && this.trialInFlight)) {
      throw new CircuitOpenError(
        `collector unreachable: circuit open for another ${Math.max(0, this.openUntil - this.now())} ms`,
      );
    }
    const trial = state === "half-open";
    if (trial) this.trialInFlight = true;
    try {
      const result = await call();
      this.failures = 0;
      return result;
    } catch (e) {
      if (!isOutage(e)) {
        this.failures = 0;
        throw e;
      }
      this.failures++;
      if (this.failures >= this.policy.failureThreshold) this.openUntil = this.now() + this.policy.openMs;
      throw e;
    } finally {
      if (trial) this.trialInFlight = false;
    }
  }
}
