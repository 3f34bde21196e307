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
    // Name the user's file, not our temporary one.
    const err = e as NodeJS.ErrnoException;
    if (typeof err.message === "string") err.message = err.message.split(temporary).join(target);
    throw err;
  }
  await syncPath(dir);
}
