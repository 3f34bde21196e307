/**
 * THE PLACE for the storage-maintenance metrics: checkpoints of derived
 * state and retention of old segments. They are registered here, on the
 * collector's registry, by the code that does that work, so that every
 * metric of the collector is defined in src/metrics/ under one prefix.
 *
 * Suggested names (Prometheus conventions: counters end in _total, durations
 * are seconds):
 *   session_events_checkpoints_total{outcome="written"|"failed"}
 *   session_events_checkpoint_seconds            histogram: write + fsync + rename
 *   session_events_checkpoint_sequence           gauge: the log position of the last one
 *   session_events_retention_segments_removed_total
 *   session_events_retention_bytes_removed_total
 *   session_events_retention_segments_archived_total
 *
 * Until then the object is empty, and nothing is exported that never moves.
 */
import type { Registry } from "prom-client";

// biome-ignore lint/suspicious/noEmptyInterface: filled by the checkpoint and retention work
export interface MaintenanceMetrics {}

export function registerMaintenanceMetrics(registry: Registry): MaintenanceMetrics {
  void registry;
  return {};
}
