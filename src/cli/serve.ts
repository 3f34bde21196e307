/** `session-events serve`: run the collector until SIGINT or SIGTERM. */
import { parseServeConfig, serveOptionsHelp } from "../server/config.js";
import { createLogger } from "../server/logger.js";
import { startServer } from "../server/server.js";

export const serveUsage = `session-events serve [options]

Run the session collector: gRPC SessionService, health checks and reflection,
storing every accepted event in a durable log under --data-dir. Stops
gracefully on SIGINT/SIGTERM. Logs are JSON lines on stderr.

Exit status: 0 after a stop asked for by a signal; 1 if the event log failed
(a write or fsync: a full disk, an I/O error), so that a supervisor restarts
it and the restart's recovery cuts what was half written; 1 if it could not
start (or stop cleanly); 2 for a wrong flag.

options (flag, or environment variable; the flag wins):
${serveOptionsHelp()}`;

/** Runs until stopped; resolves with the exit code (never sets process.exitCode: main's caller does). */
export async function serve(args: string[]): Promise<number> {
  const config = parseServeConfig(args);
  const logger = createLogger(config.logLevel);
  let code = 0;
  let stop: (why: string) => void = () => {};
  const running = await startServer(config, logger, {
    onFatal: () => {
      code = 1; // let a supervisor restart us: recovery needs a fresh open
      stop("event log failure");
    },
  });
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
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
  return code;
}
