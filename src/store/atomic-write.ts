/**
 * Replace a file so that after any crash it holds either the old content or
 * the new, never a mix: write a temporary file in the same directory, fsync
 * it, rename it over the target, fsync the directory (so the rename itself is
 * durable). Every writer of a whole file in this package goes through here.
 */
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { syncPath } from "./fsync.js";

export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(target);
  const temporary = path.join(dir, `.${path.basename(target)}.${process.pid}.${Date.now().toString(36)}.tmp`);
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
  await syncPath(dir);
}

/** An error about our temporary file, rewritten to name the user's file (the one they asked for). */
export function nameTargetInError(e: unknown, temporary: string, target: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.message === "string") err.message = err.message.split(temporary).join(target);
  if (typeof err?.path === "string") err.path = err.path.split(temporary).join(target);
  return err;
}
