/**
 * The `session-events` command. Commands are a table: a word path, a usage
 * line, and the module that runs it, loaded only when that command runs (so
 * `emit` does not pay for the server's modules, nor `schemas` for gRPC).
 */
import process from "node:process";
import { UsageError } from "./usage-error.js";

/** A command: its exit code, or nothing for 0. */
type Run = (args: string[], stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream) => void | number | Promise<void | number>;

interface Command {
  readonly path: readonly string[];
  readonly summary: string;
  readonly load: () => Promise<{ run: Run; usage: string }>;
}

/** A command's run function and usage text, named in a module loaded on demand. */
const lazy =
  <M extends Record<string, unknown>>(load: () => Promise<M>, run: keyof M, usage: keyof M) =>
  async () => {
    const m = await load();
    return { run: m[run] as Run, usage: m[usage] as string };
  };
const clientCommands = () => import("./client-commands.js");
const archiveCommands = () => import("./archive.js");
const logCommands = () => import("./log.js");

const COMMANDS: readonly Command[] = [
  { path: ["serve"], summary: "session-events serve [options]", load: lazy(() => import("./serve.js"), "serve", "serveUsage") },
  {
    path: ["emit", "start"],
    summary: "session-events emit start --component NAME --shell-type TYPE [--metadata JSON]",
    load: lazy(clientCommands, "emitStart", "emitStartUsage"),
  },
  { path: ["emit", "end"], summary: "session-events emit end SESSION_ID [--metadata JSON]", load: lazy(clientCommands, "emitEnd", "emitEndUsage") },
  {
    path: ["sessions", "list"],
    summary: "session-events sessions list [--component NAME] [--status open|ended] [--after T] [--before T] [--page-size N] [--page-token T]",
    load: lazy(clientCommands, "sessionsList", "sessionsListUsage"),
  },
  { path: ["sessions", "get"], summary: "session-events sessions get SESSION_ID", load: lazy(clientCommands, "sessionsGet", "sessionsGetUsage") },
  {
    path: ["schemas", "export"],
    summary: "session-events schemas export [--format json|yaml] [PATH]",
    load: lazy(() => import("./schemas.js"), "schemasExport", "schemasExportUsage"),
  },
  {
    path: ["archive", "export"],
    summary: "session-events archive export INPUT [-o FILE] [--layout events|records] [--gzip] [--family F] [--type T] [--since T] [--until T]",
    load: lazy(archiveCommands, "archiveExport", "exportUsage"),
  },
  {
    path: ["archive", "import"],
    summary: "session-events archive import INPUT -o FILE [--to segment|delimited]",
    load: lazy(archiveCommands, "archiveImport", "importUsage"),
  },
  { path: ["archive", "verify"], summary: "session-events archive verify INPUT [--json]", load: lazy(archiveCommands, "archiveVerify", "verifyUsage") },
  {
    path: ["vrp", "send"],
    summary: "session-events vrp send [FILE|-] --producer-id ID [--map FILE] [--lenient] [--dry-run] [--json]",
    load: lazy(() => import("./vrp-send.js"), "vrpSend", "vrpSendUsage"),
  },
  { path: ["log", "verify"], summary: "session-events log verify DIR [--json]", load: lazy(logCommands, "logVerify", "verifyUsage") },
  { path: ["log", "repair"], summary: "session-events log repair DIR [--json]", load: lazy(logCommands, "logRepair", "repairUsage") },
  { path: ["log", "reindex"], summary: "session-events log reindex DIR", load: lazy(logCommands, "logReindex", "reindexUsage") },
  { path: ["log", "upgrade"], summary: "session-events log upgrade OLD_DIR NEW_DIR", load: lazy(logCommands, "logUpgrade", "upgradeUsage") },
];

const overview = `usage: session-events <command> [options]

commands:
${COMMANDS.map((c) => `  ${c.summary}`).join("\n")}

Run "session-events <command> --help" for details.`;

export async function main(argv: string[], stdout = process.stdout, stderr = process.stderr): Promise<number> {
  const command = COMMANDS.find((c) => c.path.every((word, i) => argv[i] === word));
  if (!command) {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
      stdout.write(`${overview}\n`);
      return argv.length === 0 ? 2 : 0;
    }
    stderr.write(`session-events: unknown command: ${argv.join(" ")}\n\n${overview}\n`);
    return 2;
  }
  const { run, usage } = await command.load();
  const args = argv.slice(command.path.length);
  if (args.includes("--help") || args.includes("-h")) {
    stdout.write(`usage: ${usage}\n`);
    return 0;
  }
  try {
    return (await run(args, stdout, stderr)) ?? 0;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const isUsage = e instanceof UsageError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"));
    stderr.write(`session-events: error: ${(e as Error).message}\n`);
    if (isUsage) stderr.write(`usage: ${usage}\n`);
    return isUsage ? 2 : 1;
  }
}
