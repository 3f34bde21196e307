import { SessionEventsError } from "../errors.js";

/** A mistake on the command line (code INVALID_ARGUMENT): printed with the usage, exit code 2. */
export class UsageError extends SessionEventsError {
  override readonly name = "UsageError";
  constructor(message: string, options: { readonly cause?: unknown } = {}) {
    super(message, { code: "INVALID_ARGUMENT", cause: options.cause });
  }
}
