/**
 * Flag helpers shared by every command: one name per idea across commands
 * (older names kept as aliases), and node:util parseArgs's errors turned into
 * one line that names the flag.
 */
import { UsageError } from "./usage-error.js";

/**
 * The value of a flag that also answers to an older name (`--since` and
 * `--after`): either name, not both.
 */
export function aliased<T>(values: Record<string, T | undefined>, name: string, old: string): T | undefined {
  const now = values[name];
  const before = values[old];
  if (now !== undefined && before !== undefined)
    throw new UsageError(`--${name}: give it once (--${old} is its older name)`);
  return now ?? before;
}

/** parseArgs's error codes, each as "FLAG: what is wrong" (its own texts quote unevenly and name no command). */
const PARSE_ARGS_ERRORS: readonly { code: string; pattern: RegExp; message: (m: RegExpMatchArray) => string }[] = [
  {
    code: "ERR_PARSE_ARGS_UNKNOWN_OPTION",
    pattern: /^Unknown option '([^']+)'/,
    message: (m) => `${m[1]}: unknown flag`,
  },
  {
    code: "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
    pattern: /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/,
    message: (m) => `${m[1]}: needs a value`,
  },
  {
    code: "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
    pattern: /^Option '(?:-\w, )?(--[\w-]+)' does not take an argument/,
    message: (m) => `${m[1]}: takes no value`,
  },
  {
    code: "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
    pattern: /^Option '(?:-\w, )?(--[\w-]+)' argument is ambiguous/,
    message: (m) => `${m[1]}: needs a value (one that starts with a dash: ${m[1]}=-VALUE)`,
  },
  {
    code: "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL",
    pattern: /^Unexpected argument '([^']*)'/,
    message: (m) => `unexpected argument: ${m[1]}`,
  },
];

/** A parseArgs error as a UsageError naming the flag; anything else: undefined. */
export function usageErrorOf(e: unknown): UsageError | undefined {
  if (e instanceof UsageError) return e;
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS") || typeof message !== "string") return undefined;
  for (const rule of PARSE_ARGS_ERRORS) {
    const m = rule.code === code ? message.match(rule.pattern) : null;
    if (m) return new UsageError(rule.message(m));
  }
  return new UsageError(message.split(". ")[0]!);
}
