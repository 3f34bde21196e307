/** `session-events serve`: run the collector until SIGINT or SIGTERM. */
import { format } from "node:util";
import { setLogger, setLogVerbosity, logVerbosity } from "@grpc/grpc-js";
import { parseServeConfig, serveOptionsHelp } from "./serve-config.js";
import { createLogger, type Logger } from "../server/logger.js";
import { startServer } from "../server/server.js";

export const serveUsage = `session-events serve [options]

Run the session collector: gRPC SessionService, health checks and reflection,
storing every accepted event in a durable log under --data-dir. Stops
gracefully on SIGINT/SIGTERM. Logs are JSON lines on stderr.

Exit status: 0 after a stop asked for by a signal (130 or 143 if asked twice
while still starting); 1 if the event log failed
(a write or fsync: a full disk, an I/O error), so that a supervisor restarts
it and the restart's recovery cuts what was half written; 1 if it could not
start (or stop cleanly); 2 for a wrong flag.

options (flag, or environment variable; the flag wins):
${serveOptionsHelp()}`;

/** Runs until stopped; resolves with the exit code (never sets process.exitCode: main's caller does). */
export async function serve(args: string[]): Promise<number> {
  const config = parseServeConfig(args);
  const logger = createLogger(config.logLevel);
  const restoreOutput = libraryOutputAsLogLines(logger, config.logLevel === "debug");
  let code = 0;
  // Until the server is up, a stop is noted and carried out once it is; a
  // second one exits at once (recovery is safe to cut short: it is what a crash
  // leaves that it repairs), as the signal's default action would have.
  let requested: string | undefined;
  let stop: (why: string) => void = (why) => {
    if (requested === undefined) {
      requested = why;
      logger.info("stop asked for while starting: stopping once started", { why });
      return;
    }
    logger.warn("asked again while starting: exiting now", { why });
    process.exit(why === "SIGINT" ? 130 : 143);
  };
  // Handlers before the (possibly long) recovery of the log: as PID 1 of a
  // container, a signal with no handler is ignored, and `docker stop` would
  // wait for its SIGKILL.
  const onSigint = () => stop("SIGINT");
  const onSigterm = () => stop("SIGTERM");
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigterm);
  try {
    let running: { shutdown(graceMs?: number): Promise<void> };
    try {
      const hooks = {
        onFatal: () => {
          code = 1; // let a supervisor restart us: recovery needs a fresh open
          stop("event log or state store failure");
        },
      };
      // The NATS client is loaded only by a replica: the file engine's start does not pay for it.
      running =
        config.engine === "jetstream"
          ? await (await import("../server/replica-server.js")).startReplica(config, logger, hooks)
          : await startServer(config, logger, hooks);
    } catch (e) {
      // One JSON line, as every other line of serve (a supervisor's log reads them all alike).
      logger.error("cannot start", { error: (e as Error).message, address: config.address, dataDir: config.dataDir });
      return 1;
    }
    await new Promise<void>((resolve) => {
      let stopping = false;
      stop = (why: string) => {
        if (stopping) {
          logger.warn("asked again: stopping now", { why });
          void running.shutdown(0);
          return;
        }
        stopping = true;
        logger.info("stopping", { why });
        void running.shutdown().then(resolve, (e: unknown) => {
          logger.error("shutdown failed", { error: String(e) });
          code = 1;
          resolve();
        });
      };
      if (requested !== undefined) stop(requested);
    });
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigterm);
    restoreOutput();
  }
  return code;
}

/**
 * Other code's lines as log lines, so that every stderr line of serve is JSON
 * (a supervisor's log reads them all alike): grpc-js's ("E No address added
 * ..."), the console's (lmdb-js prints a failed commit's error with
 * console.error) and Node's process warnings. Returns what puts them back:
 * tests call serve inside the test runner's process.
 */
function libraryOutputAsLogLines(logger: Logger, debug: boolean): () => void {
  setLogger({
    error: (...a: unknown[]) => logger.debug("grpc-js", { message: a.map(String).join(" ") }),
  } as unknown as Console);
  setLogVerbosity(debug ? logVerbosity.INFO : logVerbosity.ERROR);
  const { error, warn } = console;
  console.error = (...a: unknown[]) => logger.error("console", { message: format(...a) });
  console.warn = (...a: unknown[]) => logger.warn("console", { message: format(...a) });
  // Node's own printer is a listener of its own, set aside while serve runs. It
  // is missing when warnings were silenced (--no-warnings, NODE_NO_WARNINGS=1):
  // then they stay silent.
  const printers = process.listeners("warning");
  const onWarning = (w: Error & { code?: string; detail?: string }) =>
    logger.warn("node warning", { name: w.name, code: w.code, message: w.message, detail: w.detail });
  if (printers.length > 0) {
    process.removeAllListeners("warning");
    process.on("warning", onWarning);
  }
  return () => {
    setLogger(console);
    console.error = error;
    console.warn = warn;
    if (printers.length === 0) return;
    process.off("warning", onWarning);
    for (const printer of printers) process.on("warning", printer);
  };
}
