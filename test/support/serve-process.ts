/** `session-events serve` in a process of its own (optionally behind a wrapper such as unshare), for fault tests. */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { cliBin } from "./repo.js";

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** stderr, one JSON log line per entry (kept up to date while it runs). */
  readonly log: string[];
  /** Resolves once the process has exited and its stderr is read to the end. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Start the collector (of `bin`: this build's by default) on a free port; resolves once it logs `ready` ("listening"
 * by default; `port` is 0 until then), and rejects if it exits first.
 */
export function startServeProcess(
  args: string[],
  wrapper: string[] = [],
  ready = "listening",
  bin = cliBin,
): Promise<ServeProcess> {
  const argv = [...wrapper, process.execPath, bin, "serve", "--address", "127.0.0.1:0", ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  const log: string[] = [];
  let partial = "";
  // "close", not "exit": once stderr is read to its end too, so that `log` holds every line.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  child.stderr!.once("end", () => {
    if (partial !== "") log.push(partial); // a last line without its newline
    partial = "";
  });
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        log.push(line);
        let entry: { msg?: string; port?: number } = {};
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          // not a log line (a wrapper's message): kept in `log` all the same
        }
        if (entry.msg === ready) resolve({ child, port: entry.port ?? 0, log, exited });
      }
    });
    child.once("error", reject);
    void exited.then(({ code, signal }) =>
      reject(new Error(`serve exited before listening (code ${code}, signal ${signal}):\n${log.join("\n")}`)),
    );
  });
}

/**
 * Run as PID 1 of a new pid namespace, as in a container. --kill-child: if
 * unshare is killed (a failed test), its PID 1 goes with it.
 */
export const PID1 = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"];

/** The host's pid of the PID 1 that `unshare --fork` started. */
export function pid1Of(serve: ServeProcess): number {
  const pid = serve.child.pid!;
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  if (children.length !== 1) throw new Error(`expected unshare (${pid}) to have one child, not ${children.length}`);
  return Number(children[0]);
}
