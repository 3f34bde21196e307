/**
 * Replace a file so that after any crash it holds either the old content or
 * the new, never a mix: write a temporary file in the same directory, fsync
 * it, rename it over the target, fsync the directory (so the rename itself is
 * durable). Every writer of a whole file in this package goes through here;
 * a writer that streams into its own temporary file (the archive sink) shares
 * the last step, renameDurably.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { syncPath, syncPathSync } from "./fsync.js";

/** A temporary name beside `target` (same directory, so the rename is atomic). */
function temporaryFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${Date.now().toString(36)}.tmp`);
}

/** Write `data` to `target` atomically and durably (temp file, fsync, rename, fsync dir). */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const temporary = temporaryFor(target);
  try {
    const handle = await open(temporary, "wx", 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
  } catch (e) {
    await rm(temporary, { force: true }).catch(() => {});
    throw nameTargetInError(e, temporary, target);
  }
  await syncPath(path.dirname(target));
}

/** writeFileAtomic for synchronous APIs (exportSchemasToFile). */
export function writeFileAtomicSync(target: string, data: string | Uint8Array): void {
  const temporary = temporaryFor(target);
  try {
    const fd = openSync(temporary, "wx", 0o644);
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, target);
  } catch (e) {
    rmSync(temporary, { force: true });
    throw nameTargetInError(e, temporary, target);
  }
  syncPathSync(path.dirname(target));
}

/** The last step of an atomic replace, for a temporary file already written and fsynced: rename it over `target`, fsync the directory. */
export async function renameDurably(temporary: string, target: string): Promise<void> {
  try {
    await rename(temporary, target);
  } catch (e) {
    throw nameTargetInError(e, temporary, target);
  }
  await syncPath(path.dirname(target));
}

/** An error about our temporary file, rewritten to name the user's file (the one they asked for). */
export function nameTargetInError(e: unknown, temporary: string, target: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.message === "string") err.message = err.message.split(temporary).join(target);
  if (typeof err?.path === "string") err.path = err.path.split(temporary).join(target);
  return err;
}
