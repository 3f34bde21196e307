/**
 * State derived from the log, in log order: every change to the state store
 * is the application of one durable log record, at start-up (the tail after
 * the last checkpoint) and live (each record as it becomes durable), by the
 * same code. Replay restores, never recomputes: a VRP event's stored outcomes
 * are applied as they are (VrpStateMachine.restore).
 *
 * Checkpoints: every `checkpointRecords` records or `checkpointIntervalMs`,
 * the changes applied since the last one are committed in one transaction
 * with the sequence they cover (and a digest of that record, so a store that
 * does not belong to the log is recognised at start).
 */
import { crc32 } from "node:zlib";
import { bridges } from "../bridge/index.js";
import type { VrpEventJson } from "../contract/types.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import type { SessionStartEvent } from "../../gen/oneiric/session/v1/session_events.js";
import type { EventLog, LogRecord } from "../store/event-log.js";
import { vrpDigest } from "../vrp/digest.js";
import type { VrpPolicy } from "../vrp/audits.js";
import { VrpStateMachine } from "../vrp/machine.js";
import { eventBytesOf } from "./log-entry-bytes.js";
import { SessionTables } from "./session-tables.js";
import type { StateStore } from "./state-store.js";
import { StoredProducers, StoredVrpState } from "./vrp-tables.js";

export const DEFAULT_CHECKPOINT_RECORDS = 10_000;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 1000;

export interface CheckpointPolicy {
  /** Checkpoint after this many records applied. */
  readonly checkpointRecords: number;
  /** ... or this long after the first change not yet checkpointed. */
  readonly checkpointIntervalMs: number;
}

/** LogEntry members (proto/sessionevents/log/v1/log_entry.proto). */
const SESSION_STARTED = 2;
const SESSION_ENDED = 3;

export class DerivedState {
  readonly sessions: SessionTables;
  readonly vrp: StoredVrpState;
  readonly producers: StoredProducers;
  /** Applies stored VRP outcomes (restore only: it never decides). */
  private readonly machine: VrpStateMachine;
  /** The producer event whose stored outcomes (the rest of its atomic group) are being gathered. */
  private group:
    | {
        event: VrpEventJson;
        first: bigint;
        last: bigint;
        payload: Uint8Array;
        derived: VrpEventJson[];
        /** Outcomes still to come that the writer prepared (prepare()): taken as they are, not decoded. */
        prepared: number;
      }
    | undefined;
  /** What the writer of a record already knows of it, by sequence (prepare()); taken when it is applied. */
  private readonly preparedGroups = new Map<bigint, PreparedVrpGroup>();
  /** The same for session records (prepareSession()), with the payload written. */
  private readonly preparedSessions = new Map<bigint, { payload: Uint8Array; record: PreparedSessionRecord }>();
  private lastPayload: Uint8Array | undefined;
  private sinceCheckpoint = 0;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  private readonly checkpointListeners: ((applied: bigint) => void)[] = [];
  /** Records applied by catchUp (the tail replayed at start) and since, live. */
  readonly stats = { replayed: 0, appliedLive: 0, checkpoints: 0 };
  /** Set if applying a live record failed: the state is then behind the log until a restart. */
  private applyFailure: Error | undefined;
  /** Told of the first failure while following the log (follow()). */
  private onError: ((error: Error) => void) | undefined;

  constructor(
    readonly store: StateStore,
    private readonly policy: CheckpointPolicy = {
      checkpointRecords: DEFAULT_CHECKPOINT_RECORDS,
      checkpointIntervalMs: DEFAULT_CHECKPOINT_INTERVAL_MS,
    },
  ) {
    this.sessions = new SessionTables(store);
    this.vrp = new StoredVrpState(store);
    this.producers = new StoredProducers(store);
    this.machine = new VrpStateMachine(undefined, this.vrp);
    store.onDurable((applied) => {
      for (const listener of this.checkpointListeners) listener(applied);
    });
  }

  /**
   * Set if applying a live record, or committing a checkpoint, failed: the
   * state is then behind the log until a restart.
   */
  get failure(): Error | undefined {
    return this.applyFailure ?? this.store.failure;
  }

  /** The last sequence applied. */
  get applied(): bigint {
    return this.group ? this.group.last : this.store.applied;
  }

  /** The last sequence durably applied: the last checkpoint's (what log retention may remove up to). */
  get durable(): bigint {
    return this.store.committed;
  }

  /** The VRP policy the log last recorded (undefined: none yet). */
  get recordedPolicy(): VrpPolicy | undefined {
    return this.store.get<VrpPolicy>("meta", "vrpPolicy");
  }

  /** Told after each checkpoint is durable, with the sequence it covers (the hub drops what the store now holds). */
  onCheckpoint(listener: (applied: bigint) => void): void {
    this.checkpointListeners.push(listener);
  }

  /**
   * The writer of a VRP group (the hub, in this process) hands over what it
   * decoded and decided for it, so that applying the group once durable does
   * not decode and validate the same records again. Replay from the log (a
   * restart) decodes them; test/checkpoint-replay checks both agree.
   */
  prepare(first: bigint, group: PreparedVrpGroup): void {
    this.preparedGroups.set(first, group);
  }

  /**
   * The same for a session start or end the collector writes: applied once
   * durable from the event it decoded and the bytes it encoded, so the
   * record is not decoded again after its write (on the path to the answer).
   * Taken only if the record at `sequence` is `payload`, byte for byte.
   */
  prepareSession(sequence: bigint, payload: Uint8Array, record: PreparedSessionRecord): void {
    this.preparedSessions.set(sequence, { payload, record });
  }

  /** Apply one durable record; records come in log order, each exactly once. */
  apply(record: LogRecord): void {
    if (this.group !== undefined && this.group.prepared > 0) {
      // An outcome of the prepared group being gathered: the group's own record, as the writer made it.
      this.group.prepared--;
      this.group.last = record.sequence;
      this.group.payload = record.payload;
      return;
    }
    const prepared = this.preparedGroups.get(record.sequence);
    if (prepared !== undefined) {
      this.preparedGroups.delete(record.sequence);
      this.startGroup(record, prepared.event, prepared.derived, prepared.derived.length);
      if (prepared.producerId)
        this.producers.add(prepared.producerId, prepared.producerSequence, {
          sequence: record.sequence,
          digest: prepared.digest,
        });
      return;
    }
    // A session record its writer prepared is taken as prepared if the log holds exactly what it
    // wrote; any other record is decoded.
    const written = this.preparedSessions.get(record.sequence);
    if (written !== undefined) this.preparedSessions.delete(record.sequence);
    let e: LogEntry["entry"];
    let session: PreparedSessionRecord | undefined;
    if (written !== undefined && Buffer.compare(written.payload, record.payload) === 0) session = written.record;
    else {
      let entry: LogEntry;
      try {
        entry = LogEntry.decode(record.payload);
      } catch (error) {
        throw new Error(`event log record ${record.sequence} is not a LogEntry: ${(error as Error).message}`);
      }
      e = entry.entry;
      if (e?.$case === "vrpDerived") {
        // An outcome of the producer event being gathered (same atomic group).
        if (this.group?.first === e.value.causeSequence) {
          this.group.derived.push(bridges.VrpEvent.toJson(e.value.event!));
          this.group.last = record.sequence;
          this.group.payload = record.payload;
          return;
        }
        this.finishGroup();
        this.done(record); // its cause is not in view: nothing to restore
        return;
      }
      session = sessionRecordOf(e, record.payload);
    }
    this.finishGroup();
    this.checkpointIfDue();
    if (session?.kind === "started")
      this.sessions.applyStart(
        session.sessionId,
        record.sequence,
        session.start,
        session.startBytes,
        session.newEventId === true,
      );
    else if (session?.kind === "ended") this.sessions.applyEnd(session.sessionId, session.endBytes);
    switch (e?.$case) {
      case "vrpReceived": {
        const { event, producerId, producerSequence } = e.value;
        const json = bridges.VrpEvent.toJson(event!);
        this.startGroup(record, json, [], 0);
        if (producerId)
          this.producers.add(producerId, producerSequence, { sequence: record.sequence, digest: vrpDigest(json) });
        return; // applied when its group is complete
      }
      case "vrpPolicyChanged": {
        const { maxRecoveryWindowMs, maxSwitchesPerMinute } = e.value;
        this.store.put("meta", "vrpPolicy", {
          maxRecoveryWindowMs: Number(maxRecoveryWindowMs),
          maxSwitchesPerMinute,
        } satisfies VrpPolicy);
        break;
      }
      default:
        break; // future entries: not state
    }
    this.done(record);
  }

  private checkpointIfDue(): void {
    if (this.sinceCheckpoint >= this.policy.checkpointRecords) this.checkpoint();
  }

  /** A producer event: gathered with its outcomes (the records after it in its group), applied when complete. */
  private startGroup(record: LogRecord, event: VrpEventJson, derived: VrpEventJson[], prepared: number): void {
    this.finishGroup();
    this.checkpointIfDue();
    this.group = { event, first: record.sequence, last: record.sequence, payload: record.payload, derived, prepared };
    this.sinceCheckpoint++;
  }

  private done(record: LogRecord): void {
    this.store.setApplied(record.sequence);
    this.lastPayload = record.payload;
    this.sinceCheckpoint++;
  }

  /**
   * The unit being applied is complete: a log whose group is one unit (a
   * JetStream message: every record of it has one position) says so at its
   * end, so the group's outcomes are in the state before anyone waits on it.
   */
  settle(): void {
    this.finishGroup();
  }

  /** The group is complete (the next record is not one of its outcomes, or a checkpoint is due): apply it. */
  private finishGroup(): void {
    const group = this.group;
    if (!group) return;
    this.group = undefined;
    this.machine.restore(group.event, group.derived);
    this.store.setApplied(group.last);
    this.lastPayload = group.payload;
  }

  /** Commit what was applied since the last checkpoint, with the sequence it covers. */
  checkpoint(): void {
    // A checkpoint that failed on LMDB's write thread is met here, even with nothing new to commit.
    if (this.store.failure) throw this.store.failure;
    this.finishGroup();
    if (this.store.pending === 0 && this.store.applied === this.store.checkpointed) return;
    // One at a time (StateStore.checkpoint): the next call (the interval's, or the next group's) hands these over.
    if (this.store.isCommitting) return;
    if (this.lastPayload) this.store.put("meta", "appliedDigest", crc32(this.lastPayload));
    this.store.checkpoint();
    this.sinceCheckpoint = 0;
    this.stats.checkpoints++;
    // LMDB's write thread commits it: a failure is met later, and stops the state as a failed apply does.
    this.store.settled().catch((e: unknown) => this.fail(e as Error));
  }

  private fail(error: Error): void {
    if (this.applyFailure) return;
    this.applyFailure = error;
    this.onError?.(error);
  }

  /** Apply the log's records after the last checkpoint (start-up); returns how many. */
  async catchUp(log: EventLog): Promise<number> {
    let count = 0;
    for await (const record of log.read(this.applied + 1n)) {
      this.apply(record);
      count++;
      // A replay can outrun LMDB's writer: past two checkpoints' worth in the overlay, wait for it (bounded memory).
      if (this.sinceCheckpoint >= 2 * this.policy.checkpointRecords) await this.store.settled();
    }
    await this.store.settled();
    this.checkpoint();
    this.stats.replayed += count;
    return count;
  }

  /**
   * Follow the log: apply each record once durable. The log calls listeners
   * before the appends' promises resolve, so an answer given after an append
   * already sees its record applied.
   */
  follow(log: EventLog, onError: (error: Error) => void): void {
    // The first failure stops the state where it is (told once); a restart rebuilds from the last checkpoint.
    this.onError = onError;
    const guarded = (work: () => void) => {
      if (this.failure) return;
      try {
        work();
      } catch (e) {
        this.fail(e as Error);
      }
    };
    this.unsubscribe = log.subscribe((record) =>
      guarded(() => {
        this.apply(record);
        this.stats.appliedLive++;
      }),
    );
    this.timer = setInterval(() => guarded(() => this.checkpoint()), this.policy.checkpointIntervalMs);
    this.timer.unref();
  }

  /** Stop following, checkpoint, close the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await this.store.settled().catch(() => {}); // (a failure is in `failure`)
    if (!this.failure) this.checkpoint();
    await this.store.close();
  }
}

/** What the hub decided for a VRP group it wrote (DerivedState.prepare). */
export interface PreparedVrpGroup {
  /** The producer event, as validated contract JSON. */
  readonly event: VrpEventJson;
  /** Its outcomes, stored in the same group right after it. */
  readonly derived: VrpEventJson[];
  readonly producerId: string;
  readonly producerSequence: bigint;
  /** vrpDigest(event), for the producer history. */
  readonly digest: number;
}

/**
 * A session record as applying it needs it: prepared by the collector that
 * wrote it (DerivedState.prepareSession), or decoded from the log (sessionRecordOf).
 */
export type PreparedSessionRecord =
  | {
      readonly kind: "started";
      readonly sessionId: string;
      /** The start event as decoded from the request: the record's event, not decoded again. */
      readonly start: SessionStartEvent;
      /** The event's bytes as stored in the record (a buffer of their own). */
      readonly startBytes: Uint8Array;
      /**
       * True only from the writer of a log of its own, which checked that no
       * session holds the event_id and holds back any other start of it
       * until this one is applied (Collector.pendingStarts).
       */
      readonly newEventId?: boolean;
    }
  | { readonly kind: "ended"; readonly sessionId: string; readonly endBytes: Uint8Array };

/** A session start or end entry as what applying it needs (undefined: another entry). */
function sessionRecordOf(e: LogEntry["entry"], payload: Uint8Array): PreparedSessionRecord | undefined {
  if (e?.$case === "sessionStarted")
    return {
      kind: "started",
      sessionId: e.value.sessionId,
      start: e.value.event!,
      startBytes: copy(eventBytesOf(payload, SESSION_STARTED)!),
    };
  if (e?.$case === "sessionEnded")
    return { kind: "ended", sessionId: e.value.sessionId, endBytes: copy(eventBytesOf(payload, SESSION_ENDED)!) };
  return undefined;
}

/** A copy of a view into a record (the store must not keep the whole record's buffer alive). */
const copy = (bytes: Uint8Array) => Uint8Array.prototype.slice.call(bytes);
