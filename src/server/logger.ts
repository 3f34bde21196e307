/**
 * Structured logs: one JSON object a line, on stderr (stdout stays free for
 * a command's output). Levels: debug < info < warn < error.
 */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A structured logger: a message and fields, one JSON line each. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * A JSON Lines logger on stderr (or `write`) that drops lines below `level`.
 *
 * @example
 * ```ts
 * import { createLogger } from "session-events/server";
 * const logger = createLogger("warn");
 * logger.warn("disk almost full", { freeBytes: 1024 });
 * ```
 */
export function createLogger(
  level: LogLevel = "info",
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const at =
    (name: LogLevel) =>
    (msg: string, fields: Record<string, unknown> = {}): void => {
      if (LOG_LEVELS.indexOf(name) < threshold) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level: name, msg, ...fields }, bigintAsString)}\n`);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/** A logger that drops everything (library use, tests). */
export const silentLogger: Logger = createLogger("error", () => {});
