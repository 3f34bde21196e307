/** session-events/log: the durable append-only event log, its errors, and the verify / repair / upgrade tools. */
export { SegmentLog, type SegmentLogOptions, type DamageReport } from "../store/segment-log.js";
export type { EventLog, GroupAt, LogFollower, LogRecord } from "../store/event-log.js";
export { SegmentCursor } from "../store/log-cursor.js";
export { followLog } from "../store/follow.js";
export {
  LogClosedError,
  LogCorruptionError,
  LogFailedError,
  LogLockedError,
  LogOutOfRangeError,
} from "../store/errors.js";
export {
  verifyLog,
  repairLog,
  type LogReport,
  type RepairResult,
  type SegmentReport,
  type DamageFound,
} from "../store/repair.js";
export { upgradeLog } from "../store/upgrade.js";
