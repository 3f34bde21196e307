/**
 * A collector for the tailing bench, in its own process: `startServer` on a
 * free port and a fresh data directory; prints the port. With "read", its
 * Subscribe reads from the position reached at each wake-up (log.read, the
 * way it worked before the log cursor): the baseline.
 *
 *   node tailing-server.js cursor|read
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseServeConfig } from "../../src/cli/serve-config.js";
import { silentLogger } from "../../src/server/logger.js";
import { startServer } from "../../src/server/server.js";

const mode = process.argv[2];
const dataDir = mkdtempSync(path.join(tmpdir(), "bench-tailing-"));
const running = await startServer(
  parseServeConfig(["--address", "127.0.0.1:0", "--data-dir", dataDir], {}),
  silentLogger,
);
// followLog falls back to log.read when the engine has no follow().
if (mode === "read") (running.log as { follow?: unknown }).follow = undefined;
console.log(running.port);
process.on("SIGTERM", () => void running.shutdown(0).then(() => process.exit(0)));
