/**
 * Names on the NATS side: one prefix scopes every stream, subject and bucket
 * of a deployment. A family (sessions, vrp) is one stream `<prefix>_<family>`
 * with subjects `<prefix>.<family>.>`; one session's records go to its own
 * subject, so JetStream's expected-last-subject-sequence check can serialise
 * the writers of one session across replicas.
 */
import { SessionEventsError } from "../../errors.js";

/** A prefix, family or bucket is one subject token and a valid stream name. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
/** Ids that are already safe subject tokens / KV keys go in as they are. */
const SAFE_ID = /^[A-Za-z0-9_-]{1,256}$/;

export const DEFAULT_PREFIX = "session-events";

export function checkToken(what: string, value: string): string {
  if (!TOKEN.test(value)) {
    throw new SessionEventsError(
      `${what}: must be 1 to 64 of A-Z a-z 0-9 _ - (it names NATS subjects, streams and buckets); got ${JSON.stringify(value)}`,
      {
        code: "INVALID_ARGUMENT",
        issues: [{ path: what, rule: "nats_token", message: "1 to 64 of A-Z a-z 0-9 _ -" }],
      },
    );
  }
  return value;
}

/**
 * An id as one token, injectively: safe ids as `s.<id>`, any other text as
 * `x.<base64url of its UTF-8>` (two tokens each, never colliding).
 */
export function idToken(id: string): string {
  return SAFE_ID.test(id) ? `s.${id}` : `x.${Buffer.from(id, "utf8").toString("base64url")}`;
}

export interface FamilyNames {
  readonly stream: string;
  /** The stream's subject filter. */
  readonly subjects: string;
  /** Records that belong to no session (configuration changes, ...). */
  readonly general: string;
  /** The subject of one session's records. */
  session(sessionId: string): string;
}

export function familyNames(prefix: string, family: string): FamilyNames {
  checkToken("prefix", prefix);
  checkToken("family", family);
  return {
    stream: `${prefix}_${family}`,
    subjects: `${prefix}.${family}.>`,
    general: `${prefix}.${family}.log`,
    session: (sessionId) => `${prefix}.${family}.${idToken(sessionId)}`,
  };
}

/** KV bucket names: `<prefix>_<purpose>` (buckets are streams `KV_<bucket>`). */
export function bucketName(prefix: string, purpose: string): string {
  return `${checkToken("prefix", prefix)}_${checkToken("bucket", purpose)}`;
}
