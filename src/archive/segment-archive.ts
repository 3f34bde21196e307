/**
 * archiveSegment: one closed log segment -> DIR/<first>-<last>.jsonl.gz in
 * the records layout (each line keeps the log's sequence, received_at and
 * wrapper fields beside the contract JSON). Retention calls it before it
 * removes a segment.
 *
 * The archive is written aside (the sink: a temporary file, fsync, rename),
 * read back and compared with the segment (every event, same first and last
 * sequence, no damage), and only then given its final name (rename, fsync
 * the directory). So a file with a final name is always whole and verified;
 * a crash leaves at most a dot-file, which the next attempt replaces.
 */
import { readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { SessionEventsError } from "../errors.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import { LogCorruptionError } from "../store/errors.js";
import { syncPath } from "../store/fsync.js";
import { segmentFrames } from "../store/segment-file.js";
import { exportArchive, verifyArchive } from "./jobs.js";

export interface SegmentArchive {
  /** The archive's path. */
  readonly file: string;
  /** First and last sequence of the segment's records. */
  readonly first: bigint;
  readonly last: bigint;
  /** Events written (every record but the collector's own configuration records, which are not events). */
  readonly events: number;
}

/** The archive read back does not match its segment: it was removed, and the segment must be kept. */
export class ArchiveVerificationError extends SessionEventsError {
  override name = "ArchiveVerificationError";
  constructor(archive: string, detail: string) {
    super(`${archive}: the archive read back does not match its segment (${detail})`, { code: "DATA_LOSS" });
  }
}

const pad = (n: bigint) => n.toString().padStart(20, "0");
export const archiveName = (first: bigint, last: bigint) => `${pad(first)}-${pad(last)}.jsonl.gz`;
/** What an interrupted attempt may leave: the aside name, or the sink's own temporary file. */
const LEFTOVER = /^\.\d{20}-\d{20}\.jsonl\.gz\.unverified(\.partial-\d+)?$|^\.\d{20}-\d{20}\.jsonl\.gz\.partial-\d+$/;

export async function archiveSegment(segment: { file: string; first: bigint }, dir: string): Promise<SegmentArchive> {
  const held = await countSegment(segment);
  if (held.last === undefined) throw new Error(`${segment.file}: holds no record (nothing to archive)`);
  const name = archiveName(segment.first, held.last);
  const final = path.join(dir, name);
  const aside = path.join(dir, `.${name}.unverified`);
  try {
    await exportArchive(segment.file, { output: aside, gzip: true, layout: "records", format: "segment" });
    const summary = await verifyArchive(aside, { format: "jsonl" });
    const expected = {
      events: held.events,
      damaged: 0,
      firstSequence: held.firstEvent?.toString(),
      lastSequence: held.lastEvent?.toString(),
    };
    const found = {
      events: summary.events,
      damaged: summary.damaged,
      firstSequence: summary.firstSequence,
      lastSequence: summary.lastSequence,
    };
    if (JSON.stringify(expected) !== JSON.stringify(found))
      throw new ArchiveVerificationError(aside, `expected ${JSON.stringify(expected)}, read ${JSON.stringify(found)}`);
    await rename(aside, final);
    await syncPath(dir); // the final name, durable
  } catch (e) {
    await rm(aside, { force: true });
    throw e;
  }
  return { file: final, first: segment.first, last: held.last, events: held.events };
}

/** Remove what interrupted attempts left in an archive directory (never a final archive). */
export async function removeArchiveLeftovers(dir: string): Promise<string[]> {
  const leftovers = (await readdir(dir)).filter((n) => LEFTOVER.test(n));
  for (const name of leftovers) await rm(path.join(dir, name), { force: true });
  return leftovers;
}

/** The segment's records, read strictly with the one frame reader: its last sequence, and which records are events. */
async function countSegment(segment: { file: string; first: bigint }): Promise<{
  last: bigint | undefined;
  events: number;
  firstEvent: bigint | undefined;
  lastEvent: bigint | undefined;
}> {
  const { size } = await stat(segment.file);
  let last: bigint | undefined;
  let events = 0;
  let firstEvent: bigint | undefined;
  let lastEvent: bigint | undefined;
  for await (const item of segmentFrames(segment, size)) {
    if (item.kind === "damage") throw new LogCorruptionError(segment.file, item.offset, item.rule, item.message);
    last = item.sequence;
    if (LogEntry.decode(item.payload).entry?.$case === "vrpPolicyChanged") continue; // configuration, not an event
    events++;
    firstEvent ??= item.sequence;
    lastEvent = item.sequence;
  }
  return { last, events, firstEvent, lastEvent };
}
