/** A small tmpfs for tests of a full disk (needs `mount`: root, as in CI; without it the test fails, loudly). */
import { execFileSync } from "node:child_process";

/** Mount a tmpfs on `dir` with mount options such as "size=3m,mode=0755". */
export function mountTmpfs(dir: string, options: string): void {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(
      `cannot mount a tmpfs on ${dir}: this test needs root (CI runs as root): ${stderr || (e as Error).message}`,
    );
  }
}

/** `lazy`: detach it now even if files on it are still open (they go when the process exits). */
export function unmount(dir: string, options: { lazy?: boolean } = {}): void {
  execFileSync("umount", options.lazy ? ["-l", dir] : [dir]);
}
