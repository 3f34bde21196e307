/**
 * Damage: a record that cannot become a valid contract event. It is always
 * reported with where it is and why; what happens next is the caller's
 * choice (DamagePolicy): stop at it, or skip it and go on.
 */
import { SessionEventsError, type ValidationIssue } from "../errors.js";
import type { RecordPosition } from "./event.js";

/** Why a record is damaged. */
export type DamageRule =
  | "torn" // cut short by the end of the input
  | "checksum" // the frame's CRC-32 does not match its bytes
  | "framing" // a length field that cannot be right; the reader skipped to the next good frame
  | "sequence" // a log sequence that does not count up
  | "protobuf" // the payload is not a well-formed message of the expected type
  | "unknown_record" // well-formed, but holds no event this contract knows
  | "json" // a line that is not JSON
  | "contract"; // JSON or a message that breaks the contract (issues say which field and rule)

/** One damaged record: where, which rule, what is wrong. */
export interface ArchiveDamage {
  readonly position: RecordPosition;
  readonly rule: DamageRule;
  readonly message: string;
  /** For rule "contract": each field and rule broken. */
  readonly issues?: readonly ValidationIssue[];
  /** Bytes of input the damage covers, when known (binary input). */
  readonly bytes?: number;
}

/**
 * "stop" throws ArchiveDamageError at the first damage; a function is told of
 * each and reading goes on (once the promise it returns, if any, settles).
 */
export type DamagePolicy = "stop" | ((damage: ArchiveDamage) => unknown);

/** Damage met with policy "stop" (code DATA_LOSS; its contract issues, if any, as `issues`). */
export class ArchiveDamageError extends SessionEventsError {
  override readonly name = "ArchiveDamageError";
  constructor(readonly damage: ArchiveDamage) {
    super(describeDamage(damage), { code: "DATA_LOSS", issues: damage.issues });
  }
}

/** "events.seg record 12 (byte 4096, sequence 12): checksum mismatch ...", one line per issue after. */
export function describeDamage(d: ArchiveDamage): string {
  const p = d.position;
  const where = [
    p.line !== undefined ? `line ${p.line}` : undefined,
    p.offset !== undefined ? `byte ${p.offset}` : undefined,
    p.sequence !== undefined ? `sequence ${p.sequence}` : undefined,
  ].filter(Boolean);
  const record = p.after
    ? p.index === 0
      ? "before the first record"
      : `after record ${p.index}`
    : `record ${p.index}`;
  const head = `${p.source} ${record}${where.length ? ` (${where.join(", ")})` : ""}: ${d.message} [${d.rule}]`;
  const issues = (d.issues ?? []).map((i) => `\n  ${i.path || "/"}: ${i.message} [${i.rule}]`);
  return head + issues.join("");
}
