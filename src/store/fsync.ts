/** fsync a file or a directory by name (a directory: so that names created or renamed in it are durable). */
import { open } from "node:fs/promises";

export async function syncPath(target: string): Promise<void> {
  const handle = await open(target, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
