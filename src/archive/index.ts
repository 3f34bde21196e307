/** Archives: the collector's protobuf log <-> JSON Lines of contract JSON, verified, in constant memory. */
export { readArchive, type ArchiveReader, type ReadOptions, type ReadProgress } from "./read.js";
export {
  exportArchive,
  importArchive,
  verifyArchive,
  OUTPUT_FORMATS,
  type ExportOptions,
  type ImportOptions,
  type OutputFormat,
} from "./jobs.js";
export {
  ArchiveDamageError,
  describeDamage,
  type ArchiveDamage,
  type DamagePolicy,
  type DamageRule,
} from "./damage.js";
export type {
  ArchiveEvent,
  ArchiveEventType,
  ArchiveFamily,
  LogEntryKind,
  LogFields,
  RecordPosition,
} from "./event.js";
export type { EventFilter } from "./filter.js";
export type { JetStreamInput } from "./jetstream-source.js";
export { ARCHIVE_RECORD_SCHEMA, LINE_LAYOUTS, type LineLayout } from "./lines.js";
export { RECORD_MESSAGES, type RecordMessage } from "./codec.js";
export { INPUT_FORMATS, type InputFormat } from "./source.js";
export { renderSummary, type ArchiveSummary } from "./summary.js";
