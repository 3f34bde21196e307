/**
 * A collector for the tailing bench, in its own process: `startServer` on a
 * free port and a fresh data directory; prints the port. (The argument
 * "cursor" is what earlier builds of this script took; it is the default.)
 *
 *   node tailing-server.js [cursor]
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseServeConfig } from "../../src/cli/serve-config.js";
import { silentLogger } from "../../src/server/logger.js";
import { startServer } from "../../src/server/server.js";

const dataDir = mkdtempSync(path.join(tmpdir(), "bench-tailing-"));
const running = await startServer(
  parseServeConfig(["--address", "127.0.0.1:0", "--data-dir", dataDir], {}),
  silentLogger,
);
console.log(running.port);
process.on("SIGTERM", () => void running.shutdown(0).then(() => process.exit(0)));
