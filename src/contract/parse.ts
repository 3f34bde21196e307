/** Turning `string | object` input into a value to validate. */
import { ValidationError } from "./errors.js";

/**
 * A string is parsed as JSON (malformed JSON is a ValidationError with rule
 * "json"); anything else is taken as an already-parsed value.
 */
export function parseJsonInput(subject: string, input: unknown): unknown {
  if (typeof input !== "string") return input;
  try {
    return JSON.parse(input);
  } catch (e) {
    throw new ValidationError(subject, [
      { path: "", rule: "json", message: `malformed JSON: ${(e as Error).message}` },
    ]);
  }
}
