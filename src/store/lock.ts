/**
 * One writer per directory: a LOCK file holding the writer's pid, created
 * exclusively. A lock whose process is gone (a crash) is taken over.
 */
import { open, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { LogLockedError } from "./errors.js";

export async function acquireLock(dir: string): Promise<string> {
  const file = path.join(dir, "LOCK");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, "wx");
      await handle.writeFile(String(process.pid));
      await handle.sync();
      await handle.close();
      return file;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
      if (pid === process.pid) throw new LogLockedError(`${dir} is already open in this process`);
      if (pid > 0 && processIsAlive(pid)) {
        throw new LogLockedError(`${dir} is in use by process ${pid} (if that process is not a writer of this log, delete ${file})`);
      }
      await rm(file, { force: true }); // stale: its writer is gone
    }
  }
  throw new LogLockedError(`${dir}: could not take the lock ${file}`);
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}


export async function releaseLock(file: string): Promise<void> {
  await rm(file, { force: true });
}
