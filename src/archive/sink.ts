/**
 * Where converted records go: a file (gzip'ed if asked), or a stream such as
 * standard output. A file is written beside its final name and renamed into
 * place only once complete and fsync'ed, so a failed or interrupted job never
 * leaves a half archive under the real name. Writes honour backpressure, so
 * memory stays at one batch however fast the input is read; a stream that
 * fails (a full disk, a closed pipe) fails the job, never stalls it.
 */
import { createWriteStream, existsSync, fdatasync, realpathSync, statSync, type WriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { finished } from "node:stream/promises";
import type { Writable } from "node:stream";
import { createGzip } from "node:zlib";
import { syncPath } from "../store/fsync.js";
import { nameTargetInError, renameDurably } from "../store/atomic-write.js";
import { SessionEventsError } from "../errors.js";

/** Writes are gathered into batches of about this size before reaching the stream. */
const BATCH_BYTES = 256 * 1024;
/**
 * A file is synced in the background after each this many bytes (RocksDB's
 * bytes_per_sync): the disk writes while the job computes, and the fsync
 * that ends the job has little left to wait for.
 */
const SYNC_EVERY_BYTES = 8 * 1024 * 1024;

export interface Sink {
  /** `data` is kept, not copied, until it is written: the caller must not change it after. */
  write(data: string | Uint8Array): Promise<void>;
  /** Flush, and for a file: fsync and rename into place. */
  finish(): Promise<void>;
  /**
   * Give up. A file is removed; a stream (stdout) gets what was read before
   * the failure, gzip'ed properly if asked, and is left open.
   */
  abort(): Promise<void>;
}

export interface SinkOptions {
  readonly gzip?: boolean;
  /** Gather writes up to this many bytes before passing them on (default 256 KiB; 0 passes each at once). */
  readonly batchBytes?: number;
}

/** The reader of a stream output went away (EPIPE: `| head`): not the job's fault. */
export class OutputClosedError extends SessionEventsError {
  override readonly name = "OutputClosedError";
  constructor(message: string, options: { readonly cause?: unknown } = {}) {
    super(message, { code: "CANCELLED", cause: options.cause });
  }
}

/** Parts as one write: a lone part as it is (not copied), strings joined, anything else as one Buffer. */
export function joinParts(parts: readonly (string | Uint8Array)[]): string | Uint8Array {
  if (parts.length === 1) return parts[0]!;
  return parts.every((p) => typeof p === "string")
    ? parts.join("")
    : Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));
}

/** `output`: a file path, or a writable stream (left open when finished). */
export function openSink(output: string | NodeJS.WritableStream, options: SinkOptions = {}): Sink {
  const named = typeof output === "string" ? output : undefined;
  const existing = named && existsSync(named) ? statSync(named) : undefined;
  if (existing?.isDirectory())
    throw new SessionEventsError(`${named}: is a directory (give a file name)`, { code: "INVALID_ARGUMENT" });
  if (named && !existing && !existsSync(path.dirname(path.resolve(named))))
    throw new SessionEventsError(`${named}: no such directory: ${path.dirname(path.resolve(named))}`, {
      code: "NOT_FOUND",
    });
  // Only a regular file (or a new name) is written aside and renamed into
  // place; a FIFO or a device is written to as it is. Through a symbolic
  // link, the file it names is replaced, and the link kept.
  const file = named && (!existing || existing.isFile()) ? (existing ? realpathSync(named) : named) : undefined;
  const batchBytes = options.batchBytes ?? BATCH_BYTES;
  const temporary = file && path.join(path.dirname(file), `.${path.basename(file)}.partial-${process.pid}`);
  const target = (temporary ? createWriteStream(temporary) : named ? createWriteStream(named) : output) as Writable;
  const ownsTarget = named !== undefined; // a stream we opened is ended by us; one we were given is left open
  const gzip = options.gzip ? createGzip() : undefined;
  let failure: Error | undefined;
  const fail = (e: Error) => {
    if (temporary) nameTargetInError(e, temporary, file!); // name the user's file, not our partial one
    failure ??=
      (e as NodeJS.ErrnoException).code === "EPIPE" ? new OutputClosedError("the output was closed by its reader") : e;
    wake?.(); // a write waiting for "drain" would otherwise wait forever
  };
  let wake: (() => void) | undefined;
  // A stream we were given may close without an error (an HTTP response whose client left).
  const closedEarly = () => fail(new OutputClosedError("the output stream was closed before the job finished"));
  target.on("error", fail);
  if (!ownsTarget) target.on("close", closedEarly);
  gzip?.on("error", fail);
  const letGo = () => {
    target.off("error", fail);
    target.off("close", closedEarly);
  };
  gzip?.pipe(target, { end: ownsTarget });
  const head: Writable = gzip ?? target;

  const waitForDrain = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
      head.once("drain", resolve);
    }).finally(() => {
      head.off("drain", wake!);
      wake = undefined;
    });

  // One background sync at a time, of our own file only, started by flush()
  // alone: finish() and abort() wait for it before the stream can close its
  // descriptor. (A stream that fails closes it at once: a sync then in flight
  // fails with EBADF, after the failure that counts.)
  let syncedBytes = 0;
  let syncing: Promise<void> | undefined;
  let fd: number | undefined;
  if (temporary) target.once("open", (opened: number) => (fd = opened));
  const syncInBackground = () => {
    const descriptor = fd;
    const written = (target as WriteStream).bytesWritten; // in the file: after gzip, if any
    if (syncing || descriptor === undefined || written - syncedBytes < SYNC_EVERY_BYTES) return;
    syncedBytes = written;
    syncing = new Promise<void>((resolve) =>
      fdatasync(descriptor, (e) => {
        if (e) fail(e); // what was written may not be on disk: the job fails
        syncing = undefined;
        resolve();
      }),
    );
  };

  let pending: (string | Uint8Array)[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (failure) throw failure;
    if (pending.length === 0) return;
    const chunk = joinParts(pending);
    pending = [];
    pendingBytes = 0;
    if (!head.write(chunk)) await waitForDrain();
    if (failure) throw failure;
    syncInBackground(); // only our own file has a descriptor to sync
  };
  const endGzip = async () => {
    if (!gzip) return;
    gzip.end();
    await Promise.race([
      finished(gzip, { writable: true, readable: true }),
      new Promise<void>((resolve) => (wake = resolve)),
    ]).catch(fail);
  };

  return {
    async write(data) {
      pending.push(data);
      pendingBytes += data.length;
      if (pendingBytes >= batchBytes) await flush();
    },
    async finish() {
      await flush();
      await syncing; // before gzip's end ends the file's stream, which closes its descriptor
      await endGzip();
      if (failure) throw failure;
      if (!ownsTarget) {
        // A stream we were given stays open; but everything must have reached it.
        const error = await new Promise<Error | null | undefined>((resolve) => target.write("", resolve));
        await new Promise((resolve) => setImmediate(resolve)); // the 'error' of an earlier write comes a tick later
        letGo();
        if (failure) throw failure;
        if (error) throw error;
        return;
      }
      if (!gzip) target.end();
      await finished(target).catch(fail);
      if (failure) throw failure;
      if (!temporary) return;
      try {
        await syncPath(temporary);
      } catch (e) {
        throw nameTargetInError(e, temporary, file!);
      }
      await renameDurably(temporary, file!);
    },
    async abort() {
      await syncing;
      if (temporary) {
        gzip?.destroy();
        target.destroy();
        await finished(target).catch(() => undefined);
        await rm(temporary, { force: true });
        return;
      }
      // A stream (stdout, a FIFO) keeps what was read before the failure: a gzip stream, its trailer too.
      if (!failure) await flush().catch(() => undefined);
      if (!failure) await endGzip();
      if (ownsTarget) {
        if (!gzip) target.end();
        await finished(target).catch(() => undefined);
      }
      letGo();
    },
  };
}
