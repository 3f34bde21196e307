/**
 * The state store of a log in a test, opened and following the log as the
 * server does; closing the log closes it too (tests close logs by hand).
 */
import type { DerivedState } from "../../src/state/derived-state.js";
import { openState, type OpenedState } from "../../src/state/open-state.js";
import type { SegmentLog } from "../../src/store/segment-log.js";

export async function openDerived(
  log: SegmentLog,
  dataDir: string,
  options: { checkpointRecords?: number } = {},
): Promise<DerivedState> {
  return (await openDerivedWith(log, dataDir, options)).state;
}

export async function openDerivedWith(
  log: SegmentLog,
  dataDir: string,
  options: { checkpointRecords?: number; warnings?: string[] } = {},
): Promise<OpenedState> {
  const opened = await openState({
    dataDir,
    log,
    checkpointRecords: options.checkpointRecords,
    onWarning: (m) => options.warnings?.push(m),
  });
  opened.state.follow(log, (e) => {
    throw e;
  });
  const closeLog = log.close.bind(log);
  log.close = async () => {
    await closeLog();
    await opened.state.close();
  };
  return opened;
}
