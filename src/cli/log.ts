/**
 * session-events log verify|repair|reindex|upgrade: the data directory by hand.
 *
 * Exit codes: verify 0 clean (an unfinished tail, which open cuts by
 * itself, is clean), 1 damage; repair 0 nothing acknowledged was moved
 * aside, 1 something that may have held acknowledged records was; upgrade 0
 * done, 1 error; 2 usage for all.
 */
import { parseArgs } from "node:util";
import { repairLog, verifyLog, type LogReport } from "../store/repair.js";
import { SegmentLog } from "../store/segment-log.js";
import { reindexState } from "../state/open-state.js";
import { upgradeLog } from "../store/upgrade.js";
import { UsageError } from "./usage-error.js";

export const verifyUsage = `session-events log verify DIR [--json]

Read every segment of a collector data directory, checking every checksum
and sequence, and report each damaged place with its segment, byte offset
and rule. Changes nothing; safe on a running collector's directory.
exit: 0 clean, 1 damage, 2 usage`;

export const repairUsage = `session-events log repair DIR [--json]

Move every damaged span of a data directory aside, into a file next to its
segment (NAME.seg.damaged-OFFSET), rewrite the segment without it, and
record the missing sequences in DIR/REPAIRS so that the collector opens it
again. Deletes no byte. Prints exactly which records were removed. The
collector must be stopped (repair takes the directory's lock).
exit: 0 nothing acknowledged was set aside, 1 records that may have been
acknowledged were set aside (see the list), 2 usage`;

export const reindexUsage = `session-events log reindex DIR

Rebuild the state store of a data directory (DIR/state: sessions, event ids,
listing indexes, VRP states, producer positions) from its whole log, the
single source of truth. The collector does this by itself when the store is
missing or unusable; this does it on purpose (after restoring a backup of the
log alone, say). The collector must be stopped (reindex takes the
directory's lock).
exit: 0 done, 1 error, 2 usage`;

export const upgradeUsage = `session-events log upgrade OLD_DIR NEW_DIR [--json]

Copy a data directory written by session-events 0.1.0 (log format 1) into
NEW_DIR (new or empty) in the current format, keeping every sequence.
OLD_DIR is only read. --json: the result as {"records", "last_sequence", "into"}.
exit: 0 done, 1 error, 2 usage`;

type Out = NodeJS.WritableStream;

function oneDir(args: string[], extra = 0): { dirs: string[]; json: boolean } {
  const { positionals, values } = parseArgs({ args, options: { json: { type: "boolean" } }, allowPositionals: true });
  const want = 1 + extra;
  if (positionals.length !== want)
    throw new UsageError(`expected ${want === 1 ? "DIR" : "OLD_DIR NEW_DIR"}, got ${positionals.length} argument(s)`);
  return { dirs: positionals, json: values.json ?? false };
}

export async function logVerify(args: string[], stdout: Out): Promise<number> {
  const { dirs, json } = oneDir(args);
  const report = await verifyLog(dirs[0]!);
  stdout.write(json ? `${JSON.stringify(report, bigints)}\n` : renderReport(report));
  return report.damaged ? 1 : 0;
}

export async function logRepair(args: string[], stdout: Out): Promise<number> {
  const { dirs, json } = oneDir(args);
  const result = await repairLog(dirs[0]!);
  if (json) stdout.write(`${JSON.stringify(result, bigints)}\n`);
  else {
    stdout.write(renderReport(result));
    for (const file of result.movedAside) stdout.write(`moved aside: ${file}\n`);
    for (const r of result.removed) {
      stdout.write(
        r.next === undefined
          ? `removed: every record after ${r.after} (the damage ran to the end)\n`
          : r.next === r.after + 2n
            ? `removed: record ${r.after + 1n}\n`
            : `removed: records ${r.after + 1n}..${r.next - 1n}\n`,
      );
    }
    stdout.write(
      result.lostAcknowledged
        ? "repaired: records that may have been acknowledged were set aside (listed above)\n"
        : "repaired: nothing acknowledged was set aside\n",
    );
  }
  return result.lostAcknowledged ? 1 : 0;
}

export async function logReindex(args: string[], stdout: Out): Promise<number> {
  const { dirs } = oneDir(args);
  const log = await SegmentLog.open({ dir: dirs[0]! });
  try {
    const { replayed, applied } = await reindexState(dirs[0]!, log);
    stdout.write(`reindexed: ${replayed} records applied (last sequence ${applied}) into ${dirs[0]}/state\n`);
  } finally {
    await log.close();
  }
  return 0;
}

export async function logUpgrade(args: string[], stdout: Out): Promise<number> {
  const { dirs, json } = oneDir(args, 1);
  const { records, lastSequence } = await upgradeLog(dirs[0]!, dirs[1]!);
  stdout.write(
    json
      ? `${JSON.stringify({ records, last_sequence: String(lastSequence), into: dirs[1] })}\n`
      : `upgraded: ${records} records (last sequence ${lastSequence}) into ${dirs[1]}\n`,
  );
  return 0;
}

function renderReport(report: LogReport): string {
  const lines: string[] = [];
  for (const s of report.segments) {
    const range = s.last === undefined ? "no records" : `records ${s.first}..${s.last} (${s.records})`;
    lines.push(`${s.file}: ${range}`);
    for (const d of s.damage) {
      lines.push(
        `  ${d.unfinished ? "unfinished" : "DAMAGE"} at byte ${d.offset} (${d.bytes} bytes) [${d.rule}]: ${d.message}${d.unfinished ? " (a write never acknowledged; the collector cuts it on start)" : ""}`,
      );
    }
  }
  lines.push(
    report.damaged ? "damaged: the collector will refuse to open this directory until it is repaired" : "clean",
  );
  return `${lines.join("\n")}\n`;
}

function bigints(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
