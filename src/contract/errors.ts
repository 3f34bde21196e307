/**
 * One error type for every contract boundary: it lists every problem found,
 * each with the JSON path of the field and the rule it broke.
 */

import { SessionEventsError, type ValidationIssue } from "../errors.js";

export type { ValidationIssue } from "../errors.js";

/** Invalid input (code INVALID_ARGUMENT), with every problem found. */
export class ValidationError extends SessionEventsError {
  override readonly name = "ValidationError";

  constructor(
    /** What was being validated, e.g. "SessionStartEvent". */
    readonly subject: string,
    issues: readonly ValidationIssue[],
  ) {
    super(formatIssues(subject, issues), { code: "INVALID_ARGUMENT", issues });
  }
}

function formatIssues(subject: string, issues: readonly ValidationIssue[]): string {
  const lines = issues.map((i) => `  ${i.path || "/"}: ${i.message} [${i.rule}]`);
  const count = issues.length === 1 ? "1 problem" : `${issues.length} problems`;
  return `${subject} is invalid (${count}):\n${lines.join("\n")}`;
}

/** Escape one key for use in a JSON Pointer (RFC 6901). */
export function pointerSegment(key: string | number): string {
  const text = String(key);
  // Fast path: almost no key needs escaping, and this runs for every key.
  if (!text.includes("~") && !text.includes("/")) return text;
  return text.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** An error's message, whatever was thrown (even an object that cannot become a string). */
export function describeError(e: unknown): string {
  try {
    return e instanceof Error ? e.message : String(e);
  } catch {
    return "an unreadable error";
  }
}
