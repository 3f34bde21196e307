/**
 * Where converted records go: a file (gzip'ed if asked), or a stream such as
 * standard output. A file is written beside its final name and renamed into
 * place only once complete and fsync'ed, so a failed or interrupted job never
 * leaves a half archive under the real name. Writes honour backpressure, so
 * memory stays at one batch however fast the input is read.
 */
import { createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { once } from "node:events";
import { createGzip } from "node:zlib";

/** Writes are gathered into batches of about this size before reaching the stream. */
const BATCH_BYTES = 256 * 1024;

export interface Sink {
  write(data: string | Uint8Array): Promise<void>;
  /** Flush, and for a file: fsync and rename into place. */
  finish(): Promise<void>;
  /** Give up: for a file, remove the partial one. */
  abort(): Promise<void>;
}

export interface SinkOptions {
  readonly gzip?: boolean;
}

/** `output`: a file path, or a writable stream (left open when finished). */
export function openSink(output: string | NodeJS.WritableStream, options: SinkOptions = {}): Sink {
  const file = typeof output === "string" ? output : undefined;
  const temporary = file && path.join(path.dirname(file), `.${path.basename(file)}.partial-${process.pid}`);
  const target: NodeJS.WritableStream = temporary ? createWriteStream(temporary) : (output as NodeJS.WritableStream);
  const gzip = options.gzip ? createGzip() : undefined;
  if (gzip) gzip.pipe(target, { end: temporary !== undefined });
  const head: NodeJS.WritableStream = gzip ?? target;
  let failure: Error | undefined;
  for (const stream of [target, gzip]) stream?.on("error", (e: Error) => (failure ??= e));

  let pending: (string | Uint8Array)[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const chunk = pending.every((p) => typeof p === "string") ? pending.join("") : Buffer.concat(pending.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));
    pending = [];
    pendingBytes = 0;
    if (failure) throw failure;
    if (!head.write(chunk)) await once(head, "drain"); // rejects if the stream fails meanwhile
    if (failure) throw failure;
  };

  return {
    async write(data) {
      pending.push(data);
      pendingBytes += data.length;
      if (pendingBytes >= BATCH_BYTES) await flush();
    },
    async finish() {
      await flush();
      if (gzip) {
        gzip.end();
        await once(gzip, "end").catch(() => undefined);
      }
      if (temporary) {
        if (!gzip) target.end();
        await once(target, "close");
        if (failure) throw failure;
        await syncFile(temporary);
        await rename(temporary, file!);
        await syncFile(path.dirname(file!));
      } else if (failure) {
        throw failure;
      }
    },
    async abort() {
      if (!temporary) return;
      target.end();
      await once(target, "close").catch(() => undefined);
      await rm(temporary, { force: true });
    },
  };
}

async function syncFile(file: string): Promise<void> {
  const handle = await open(file, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
