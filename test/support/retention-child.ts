/**
 * A process that appends VRP entries under load and runs retention passes
 * (with an archive directory) back to back, for the SIGKILL test. It prints
 * "A <sequence>" for each append once acknowledged (durable).
 *   node retention-child.js DATA_DIR ARCHIVE_DIR
 */
import { SegmentLog } from "../../src/store/segment-log.js";
import { silentLogger } from "../../src/server/logger.js";
import { retentionPass } from "../../src/server/retention.js";
import { vrpEntry } from "./log-entries.js";

const [dataDir, archiveDir] = process.argv.slice(2) as [string, string];
const log = await SegmentLog.open({ dir: dataDir, segmentBytes: 2048 });
let i = Number(log.lastSequence);
const appender = async () => {
  for (;;) {
    const sequence = await log.append(vrpEntry(i++));
    process.stdout.write(`A ${sequence}\n`);
  }
};
for (let k = 0; k < 8; k++) void appender();
for (;;) {
  await retentionPass(
    { maxBytes: 8192, archiveDir },
    { log, safeThrough: () => log.lastSequence, logger: silentLogger },
  );
  await new Promise((r) => setImmediate(r)); // a pass with nothing to do awaits nothing: let the appends run
}
