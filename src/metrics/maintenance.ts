/**
 * The storage-maintenance metrics: checkpoints of the derived state and
 * retention of old segments, registered on the collector's registry and fed
 * by the server (state.onCheckpoint, each retention pass's result).
 */
import { Counter, Gauge, type Registry } from "prom-client";

/** What a retention pass did, as the metrics need it. */
export interface RetentionOutcome {
  readonly removed: readonly string[];
  readonly archived: readonly string[];
  readonly stoppedBy?: string;
}

/** The maintenance metrics the server feeds. */
export interface MaintenanceMetrics {
  /** A checkpoint of the state store was committed, covering the log through `applied`. */
  checkpointed(applied: bigint): void;
  /** A retention pass finished (or failed: `undefined`). */
  retentionPassed(outcome: RetentionOutcome | undefined): void;
}

export function registerMaintenanceMetrics(registry: Registry): MaintenanceMetrics {
  const checkpoints = new Counter({
    name: "session_events_checkpoints_total",
    help: "State store checkpoints committed",
    registers: [registry],
  });
  const checkpointSequence = new Gauge({
    name: "session_events_checkpoint_sequence",
    help: "The log position the last checkpoint covers",
    registers: [registry],
  });
  const passes = new Counter({
    name: "session_events_retention_passes_total",
    help: "Retention passes, by outcome (done, not_applied: stopped at the checkpoint, archive_failed, failed)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const removed = new Counter({
    name: "session_events_retention_segments_removed_total",
    help: "Log segments removed by retention",
    registers: [registry],
  });
  const archived = new Counter({
    name: "session_events_retention_segments_archived_total",
    help: "Log segments exported to --archive-dir before removal",
    registers: [registry],
  });
  return {
    checkpointed(applied) {
      checkpoints.inc();
      checkpointSequence.set(Number(applied));
    },
    retentionPassed(outcome) {
      passes.inc({ outcome: outcome === undefined ? "failed" : (outcome.stoppedBy ?? "done") });
      if (!outcome) return;
      removed.inc(outcome.removed.length);
      archived.inc(outcome.archived.length);
    },
  };
}
