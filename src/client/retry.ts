/**
 * The one retry policy of the clients (emitter, VRP producer, subscriber),
 * as OpenTelemetry's exporter helper does it: exponential backoff with
 * jitter, bounded by an elapsed-time budget, over the codes OTLP retries.
 *
 * Retryable: UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, ABORTED,
 * OUT_OF_RANGE, DATA_LOSS; RESOURCE_EXHAUSTED only when the server sends a
 * google.rpc.RetryInfo (it is then a throttle, not a limit), and its delay
 * is honoured. Every other refusal is final. Repeating is safe: the
 * collector is idempotent on event_id and on (producer_id, producer_sequence).
 */
import { status, type ServiceError } from "@grpc/grpc-js";
import { retryDelayOf } from "./retry-info.js";

/** One retry policy for the emitter, the VRP producer and the subscriber: OTLP's codes, backoff with jitter, an elapsed-time budget. */
export interface RetryPolicy {
  /** The first wait. */
  readonly initialIntervalMs: number;
  /** No wait is longer than this (before jitter). */
  readonly maxIntervalMs: number;
  readonly multiplier: number;
  /** Each wait is the interval × (1 ± this), at random. */
  readonly randomizationFactor: number;
  /** Stop retrying once this much time has passed since the first attempt. */
  readonly maxElapsedMs: number;
  /** Attempts in all, the first included (Infinity: the elapsed budget alone decides). */
  readonly maxAttempts: number;
}

/** The defaults (docs/emitter.md): 100 ms doubling up to 2 s between attempts, ±50 % jitter, at most 5 s in all. */
export const DEFAULT_RETRY: RetryPolicy = {
  initialIntervalMs: 100,
  maxIntervalMs: 2000,
  multiplier: 2,
  randomizationFactor: 0.5,
  maxElapsedMs: 5000,
  maxAttempts: Infinity,
};

/** Fill a partial policy from the defaults, refusing values that would loop or never wait. */
export function retryPolicy(partial: Partial<RetryPolicy> = {}, defaults: RetryPolicy = DEFAULT_RETRY): RetryPolicy {
  const policy = { ...defaults, ...partial };
  const check = (field: keyof RetryPolicy, ok: boolean, rule: string) => {
    if (!ok) throw new RangeError(`retry.${field}: must be ${rule}; got ${String(policy[field])}`);
  };
  check("initialIntervalMs", policy.initialIntervalMs >= 0, "a number ≥ 0");
  check("maxIntervalMs", policy.maxIntervalMs >= policy.initialIntervalMs, "≥ initialIntervalMs");
  check("multiplier", policy.multiplier >= 1, "≥ 1");
  check("randomizationFactor", policy.randomizationFactor >= 0 && policy.randomizationFactor <= 1, "between 0 and 1");
  check("maxElapsedMs", policy.maxElapsedMs >= 0, "a number ≥ 0");
  check("maxAttempts", policy.maxAttempts >= 1, "≥ 1");
  return policy;
}

const RETRYABLE = new Set<number>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.CANCELLED,
  status.ABORTED,
  status.OUT_OF_RANGE,
  status.DATA_LOSS,
]);

/** Whether a failed call may be repeated, and after how long at least (the server's RetryInfo). */
export function retryVerdict(error: unknown): { readonly retry: boolean; readonly delayMs?: number } {
  const code = (error as ServiceError | undefined)?.code;
  if (typeof code !== "number") return { retry: false };
  const delayMs = retryDelayOf(error as ServiceError);
  if (code === status.RESOURCE_EXHAUSTED) return delayMs === undefined ? { retry: false } : { retry: true, delayMs };
  return RETRYABLE.has(code) ? { retry: true, ...(delayMs !== undefined && { delayMs }) } : { retry: false };
}

export function isRetryable(error: unknown): boolean {
  return retryVerdict(error).retry;
}

/**
 * The waits of one run of attempts. `next(error)` answers how long to wait
 * before the next attempt, or undefined when the error is final or the
 * budget (attempts, elapsed time) is spent. `reset()` starts over (after a success).
 */
export class Backoff {
  private interval: number;
  private attempts = 0;
  private started: number;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.interval = policy.initialIntervalMs;
    this.started = now();
  }

  reset(): void {
    this.interval = this.policy.initialIntervalMs;
    this.attempts = 0;
    this.started = this.now();
  }

  /** Time left in the elapsed budget. */
  get remainingMs(): number {
    return Math.max(0, this.policy.maxElapsedMs - (this.now() - this.started));
  }

  /** The wait before the next attempt after `error`, or undefined: give up. `budget: false` ignores the elapsed and attempt budget (a spool waits forever). */
  next(error: unknown, { budget = true }: { budget?: boolean } = {}): number | undefined {
    const verdict = retryVerdict(error);
    if (!verdict.retry) return undefined;
    this.attempts++;
    const f = this.policy.randomizationFactor;
    const jittered = this.interval * (1 - f + 2 * f * this.random());
    this.interval = Math.min(this.policy.maxIntervalMs, this.interval * this.policy.multiplier);
    const wait = Math.max(Math.floor(jittered), verdict.delayMs ?? 0);
    if (!budget) return wait;
    if (this.attempts + 1 > this.policy.maxAttempts) return undefined;
    if (this.now() - this.started + wait > this.policy.maxElapsedMs) return undefined;
    return wait;
  }
}

/** Run `attempt` until it succeeds, the error is final, or the budget is spent. `attempt` gets the time left in the budget. */
export async function withRetries<T>(policy: RetryPolicy, attempt: (remainingMs: number) => Promise<T>): Promise<T> {
  const backoff = new Backoff(policy);
  for (;;) {
    try {
      return await attempt(backoff.remainingMs);
    } catch (e) {
      const wait = backoff.next(e);
      if (wait === undefined) throw e;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
