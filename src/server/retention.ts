/**
 * Retention: a periodic pass that removes closed log segments past the
 * configured age or size, oldest first, never the active one
 * (SegmentLog.removeSegmentsBefore). With an archive directory, each
 * segment is first exported and verified (archive/segment-archive.ts); a
 * failed export keeps it, and the ones after it (what remains stays a
 * suffix of the log), and is logged.
 *
 * A segment goes only once the derived state has durably applied all of it
 * (`safeThrough`): otherwise the next start, which rebuilds that state from
 * the log, would lose what the segment held.
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import { archiveSegment, removeArchiveLeftovers } from "../archive/segment-archive.js";
import type { SegmentLog } from "../store/segment-log.js";
import type { Logger } from "./logger.js";

export interface RetentionPolicy {
  /** Remove closed segments last written longer ago than this. */
  readonly maxAgeMs?: number;
  /** Remove the oldest closed segments while the log holds more bytes than this. */
  readonly maxBytes?: number;
  /** Export each segment here (verified) before removing it. */
  readonly archiveDir?: string;
}

export interface RetentionDeps {
  readonly log: SegmentLog;
  /** The last sequence the derived state has durably applied: nothing after it is removed. */
  readonly safeThrough: () => bigint;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Told after each timed or asked-for pass (undefined: it failed), for metrics. */
  readonly onPass?: (result: RetentionPassResult | undefined) => void;
}

export interface RetentionPassResult {
  /** Segment files removed, oldest first. */
  readonly removed: string[];
  /** Archives written. */
  readonly archived: string[];
  /** Why the pass stopped before its limits were met, if it did. */
  readonly stoppedBy?: "not_applied" | "archive_failed";
}

export const retentionEnabled = (policy: RetentionPolicy) =>
  policy.maxAgeMs !== undefined || policy.maxBytes !== undefined;

export async function retentionPass(policy: RetentionPolicy, deps: RetentionDeps): Promise<RetentionPassResult> {
  const { log, logger } = deps;
  const now = (deps.now ?? Date.now)();
  const removed: string[] = [];
  const archived: string[] = [];
  let tidied = false;
  const held = log.segmentsHeld();
  let total = held.reduce((n, s) => n + s.bytes, 0);
  for (let i = 0; i < held.length - 1; i++) {
    const segment = held[i]!;
    const last = held[i + 1]!.first - 1n;
    const overBytes = policy.maxBytes !== undefined && total > policy.maxBytes;
    const pastAge = policy.maxAgeMs !== undefined && now - (await stat(segment.file)).mtimeMs > policy.maxAgeMs;
    if (!overBytes && !pastAge) break;
    const applied = deps.safeThrough();
    if (last > applied) {
      logger.debug("retention: segment kept until the derived state has applied it", {
        segment: path.basename(segment.file),
        last,
        applied,
      });
      return { removed, archived, stoppedBy: "not_applied" };
    }
    if (policy.archiveDir) {
      try {
        if (!tidied) {
          const leftovers = await removeArchiveLeftovers(policy.archiveDir);
          if (leftovers.length > 0)
            logger.warn("retention: removed what an interrupted archive left", {
              archiveDir: policy.archiveDir,
              files: leftovers,
            });
          tidied = true;
        }
        archived.push((await archiveSegment(segment, policy.archiveDir)).file);
      } catch (e) {
        logger.error("retention: archiving a segment failed; it is kept", {
          segment: segment.file,
          archiveDir: policy.archiveDir,
          error: (e as Error).message,
        });
        return { removed, archived, stoppedBy: "archive_failed" };
      }
    }
    removed.push(...(await log.removeSegmentsBefore(last + 1n)));
    total -= segment.bytes;
    logger.info("retention: segment removed", {
      segment: path.basename(segment.file),
      last,
      reason: overBytes ? "bytes" : "age",
      archive: policy.archiveDir ? archived.at(-1) : undefined,
    });
  }
  return { removed, archived };
}

export interface RetentionTimer {
  /** Run a pass now (after the one running, if any). */
  runNow(): Promise<RetentionPassResult>;
  /** No more passes; resolves once the running one is over. */
  stop(): Promise<void>;
}

/** A pass every `intervalMs` (the first one at once), one at a time. A failed pass is logged; the next one tries again. */
export function startRetention(policy: RetentionPolicy, deps: RetentionDeps, intervalMs: number): RetentionTimer {
  let running: Promise<RetentionPassResult | undefined> = Promise.resolve(undefined);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const run = () => {
    const pass = running.then(() => retentionPass(policy, deps));
    running = pass.then(
      (result) => {
        deps.onPass?.(result);
        return result;
      },
      (e: unknown) => {
        deps.logger.error("retention pass failed", { error: (e as Error).message });
        deps.onPass?.(undefined);
        return undefined;
      },
    );
    return pass;
  };
  const tick = () => {
    if (stopped) return;
    void run()
      .catch(() => undefined)
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs).unref();
      });
  };
  tick();
  return {
    runNow: run,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
