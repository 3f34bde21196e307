/**
 * A process that appends under load to a log with small segments, so that
 * it rolls (and seals segments) again and again, for the SIGKILL test of
 * sealed indexes. It prints "A <sequence> <payload>" for each append once
 * acknowledged (durable).
 *   node seal-child.js DATA_DIR
 */
import { SegmentLog } from "../../src/store/segment-log.js";

const [dataDir] = process.argv.slice(2) as [string];
const log = await SegmentLog.open({ dir: dataDir, segmentBytes: 2048 });
let k = 0;
const appender = async () => {
  for (;;) {
    const payload = `payload-${process.pid}-${k++}-${"x".repeat(k % 50)}`;
    const sequence = await log.append(Buffer.from(payload));
    process.stdout.write(`A ${sequence} ${payload}\n`);
  }
};
for (let i = 0; i < 8; i++) void appender();
