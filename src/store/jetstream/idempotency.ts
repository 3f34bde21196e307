/**
 * IdempotencyKeys: event_id -> session id, claimed once, for as long as the
 * bucket keeps keys (the retention period; not only JetStream's duplicate
 * window). A claim is a KV create: the server stores it only if the key has
 * no value, so of any number of concurrent claims on any replicas exactly
 * one is `created` and every other learns the winner's session id.
 */
import { JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { JetStreamUnavailableError } from "./errors.js";
import { isTransient, WRONG_LAST_SEQUENCE } from "./publish.js";
import { idToken } from "./names.js";

export type Claim = { readonly created: true } | { readonly created: false; readonly sessionId: string };

export class IdempotencyKeys {
  constructor(
    private readonly kv: KV,
    private readonly deadlineMs = 10_000,
  ) {}

  async claim(eventId: string, sessionId: string): Promise<Claim> {
    const key = idToken(eventId);
    const deadline = Date.now() + this.deadlineMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.kv.create(key, sessionId);
        return { created: true };
      } catch (e) {
        if (e instanceof JetStreamApiError && e.code === WRONG_LAST_SEQUENCE) {
          const existing = await this.lookup(eventId);
          if (existing === undefined) continue; // deleted meanwhile: claim again
          // Our own earlier attempt landed but its answer was lost: still ours.
          return existing === sessionId ? { created: true } : { created: false, sessionId: existing };
        }
        if (!isTransient(e) || Date.now() >= deadline)
          throw new JetStreamUnavailableError(
            `cannot claim event_id ${JSON.stringify(eventId)}: ${(e as Error).message}`,
            e,
          );
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
      }
    }
  }

  /** The session id an event_id was claimed for, if any. */
  async lookup(eventId: string): Promise<string | undefined> {
    const entry = await this.kv.get(idToken(eventId));
    return entry && entry.operation === "PUT" ? entry.string() : undefined;
  }
}
