/** `session-events serve`: run the collector until SIGINT or SIGTERM. */
import { parseServeConfig, serveOptionsHelp } from "../server/config.js";
import { createLogger } from "../server/logger.js";
import { startServer } from "../server/server.js";

export const serveUsage = `session-events serve [options]

Run the session collector: gRPC SessionService, health checks and reflection,
storing every accepted event in a durable log under --data-dir. Stops
gracefully on SIGINT/SIGTERM. Logs are JSON lines on stderr.

options (flag, or environment variable; the flag wins):
${serveOptionsHelp()}`;

export async function serve(args: string[]): Promise<void> {
  const config = parseServeConfig(args);
  const logger = createLogger(config.logLevel);
  const running = await startServer(config, logger);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info("signal received", { signal });
      // A second signal while draining: stop now.
      process.once(signal, () => running.shutdown(0));
      void running.shutdown().then(resolve, (e: unknown) => {
        logger.error("shutdown failed", { error: String(e) });
        process.exitCode = 1;
        resolve();
      });
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
}
