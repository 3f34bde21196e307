/**
 * Retries with exponential backoff and full jitter, for the calls the server
 * makes safe to repeat (it is idempotent on event_id): only UNAVAILABLE and
 * DEADLINE_EXCEEDED are retried; every other refusal is final.
 */
import { status, type ServiceError } from "@grpc/grpc-js";

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly multiplier: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, initialBackoffMs: 100, maxBackoffMs: 2000, multiplier: 2 };

const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]);

export function isRetryable(error: unknown): boolean {
  return RETRYABLE.has((error as ServiceError)?.code);
}

/** "Full jitter": a random wait between 0 and the capped exponential backoff. */
export function backoffMs(policy: RetryPolicy, retry: number, random = Math.random): number {
  const cap = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.multiplier ** retry);
  return Math.floor(random() * cap);
}

export async function withRetries<T>(policy: RetryPolicy, attempt: () => Promise<T>): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await attempt();
    } catch (e) {
      if (!isRetryable(e) || retry + 1 >= policy.maxAttempts) throw e;
      await new Promise((r) => setTimeout(r, backoffMs(policy, retry)));
    }
  }
}
