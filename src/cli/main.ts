/**
 * The `session-events` command. Commands are a table: a word path, a usage
 * line, and the module that runs it, loaded only when that command runs (so
 * `emit` does not pay for the server's modules, nor `schemas` for gRPC).
 * Groups (`emit`, `archive`, ...) are the commands' first words; `help` and
 * `version` are answered here.
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { usageErrorOf } from "./flags.js";

/** A command: its exit code, or nothing for 0. */
type Run = (
  args: string[],
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
) => number | undefined | Promise<number | undefined>;

interface Command {
  readonly path: readonly string[];
  readonly summary: string;
  /** Takes the connection flags (--target, --token, ...): it calls a collector. */
  readonly connects?: boolean;
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
  { path: ["serve"], summary: "serve [options]", load: lazy(() => import("./serve.js"), "serve", "serveUsage") },
  {
    path: ["emit", "start"],
    summary: "emit start --component NAME --shell-type TYPE [--metadata JSON] [--json]",
    connects: true,
    load: lazy(clientCommands, "emitStart", "emitStartUsage"),
  },
  {
    path: ["emit", "end"],
    summary: "emit end SESSION_ID [--metadata JSON] [--json]",
    connects: true,
    load: lazy(clientCommands, "emitEnd", "emitEndUsage"),
  },
  {
    path: ["sessions", "list"],
    summary:
      "sessions list [--component NAME] [--status open|ended] [--since T] [--until T] [--page-size N] [--page-token T]",
    connects: true,
    load: lazy(clientCommands, "sessionsList", "sessionsListUsage"),
  },
  {
    path: ["sessions", "get"],
    summary: "sessions get SESSION_ID",
    connects: true,
    load: lazy(clientCommands, "sessionsGet", "sessionsGetUsage"),
  },
  {
    path: ["health"],
    summary: "health [--service NAME] [--wait-ms N] [--json]",
    connects: true,
    load: lazy(clientCommands, "health", "healthUsage"),
  },
  {
    path: ["schemas", "export"],
    summary: "schemas export [--format json|yaml] [--version X] [-o FILE]",
    load: lazy(() => import("./schemas.js"), "schemasExport", "schemasExportUsage"),
  },
  {
    path: ["contract", "check"],
    summary: "contract check --against BASELINE [--json] [--schemas FILE] [--proto DIR]",
    load: lazy(() => import("./contract.js"), "contractCheck", "contractCheckUsage"),
  },
  {
    path: ["archive", "export"],
    summary:
      "archive export INPUT [-o FILE] [--layout events|records] [--gzip] [--family F] [--type T] [--since T] [--until T]",
    load: lazy(archiveCommands, "archiveExport", "exportUsage"),
  },
  {
    path: ["archive", "import"],
    summary: "archive import INPUT -o FILE [--to segment|delimited]",
    load: lazy(archiveCommands, "archiveImport", "importUsage"),
  },
  {
    path: ["archive", "verify"],
    summary: "archive verify INPUT [--json]",
    load: lazy(archiveCommands, "archiveVerify", "verifyUsage"),
  },
  {
    path: ["vrp", "send"],
    summary: "vrp send [FILE|-] --producer-id ID [--map FILE] [--lenient] [--dry-run] [--json]",
    connects: true,
    load: lazy(() => import("./vrp-send.js"), "vrpSend", "vrpSendUsage"),
  },
  { path: ["log", "verify"], summary: "log verify DIR [--json]", load: lazy(logCommands, "logVerify", "verifyUsage") },
  { path: ["log", "repair"], summary: "log repair DIR [--json]", load: lazy(logCommands, "logRepair", "repairUsage") },
  { path: ["log", "reindex"], summary: "log reindex DIR", load: lazy(logCommands, "logReindex", "reindexUsage") },
  {
    path: ["log", "upgrade"],
    summary: "log upgrade OLD_DIR NEW_DIR [--json]",
    load: lazy(logCommands, "logUpgrade", "upgradeUsage"),
  },
];

/** What each group is for, in the overview and in the group's own help. */
const GROUPS: Record<string, string> = {
  serve: "run the collector (gRPC; optional Prometheus metrics)",
  emit: "report a session start or end to a collector",
  sessions: "read sessions back from a collector",
  health: "ask a collector whether it is serving",
  schemas: "the contract's JSON Schemas",
  contract: "check a contract change against a released baseline (which version bump it needs)",
  archive: "the protobuf log <-> JSON Lines",
  vrp: "VRP event streams",
  log: "a collector's data directory by hand",
};

const CONNECTION_FLAGS = new Set(["--target", "--token", "--tls-ca", "--tls-cert", "--tls-key", "--deadline-ms"]);

const VERSION_WORDS = new Set(["--version", "-V", "version"]);
const HELP_WORDS = new Set(["--help", "-h"]);

function version(): string {
  // dist/src/cli/main.js and src/cli/main.ts alike sit three levels below the package root's package.json.
  for (const up of ["../../../package.json", "../../package.json"]) {
    try {
      return (JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as { version: string }).version;
    } catch {
      // not there: try the next
    }
  }
  return "unknown";
}

const overview = () => `usage: session-events <command> [options]

${Object.entries(GROUPS)
  .map(
    ([group, what]) =>
      `${group.padEnd(10)}${what}\n${commandsOf(group)
        .map((c) => `  session-events ${c.summary}`)
        .join("\n")}`,
  )
  .join("\n")}

Commands that call a collector take --target (env SESSION_EVENTS_TARGET),
--token (env SESSION_EVENTS_TOKEN), --tls-ca, --tls-cert/--tls-key, --deadline-ms.
Time filters are --since/--until (RFC 3339), output files -o/--output, machine-
readable results --json. Exit codes: 0 done, 1 refused or failed, 2 usage.

session-events help <command>    details of one command or group
session-events --version         ${version()}`;

const commandsOf = (group: string) => COMMANDS.filter((c) => c.path[0] === group);

const groupHelp = (group: string) => `usage: session-events ${group} <command> [options]

${GROUPS[group]}:
${commandsOf(group)
  .map((c) => `  session-events ${c.summary}`)
  .join("\n")}

session-events ${group} <command> --help   details of one`;

/** The command named by argv's first words, or the group they name. */
function find(argv: readonly string[]): { command?: Command; group?: string } {
  const command = COMMANDS.find((c) => c.path.every((word, i) => argv[i] === word));
  if (command) return { command };
  return argv[0] !== undefined && Object.hasOwn(GROUPS, argv[0]) ? { group: argv[0] } : {};
}

export async function main(argv: string[], stdout = process.stdout, stderr = process.stderr): Promise<number> {
  if (argv.length === 0) {
    stderr.write(`${overview()}\n`);
    return 2;
  }
  if (argv.length === 1 && VERSION_WORDS.has(argv[0]!)) {
    stdout.write(`${version()}\n`);
    return 0;
  }
  if (HELP_WORDS.has(argv[0]!) || argv[0] === "help") {
    // `help`, `help emit`, `help emit start`: the same as `... --help`.
    if (argv.length === 1) {
      stdout.write(`${overview()}\n`);
      return 0;
    }
    return main([...argv.slice(1), "--help"], stdout, stderr);
  }
  const { command, group } = find(argv);
  if (!command) {
    if (group) {
      const rest = argv.slice(1);
      if (rest.length > 0 && !rest.some((a) => HELP_WORDS.has(a))) {
        stderr.write(`session-events: error: ${group} ${rest[0]}: unknown command\n${groupHelp(group)}\n`);
        return 2;
      }
      (rest.length === 0 ? stderr : stdout).write(`${groupHelp(group)}\n`);
      return rest.length === 0 ? 2 : 0;
    }
    stderr.write(`session-events: error: ${argv[0]}: unknown command\nsee 'session-events --help'\n`);
    return 2;
  }
  const name = command.path.join(" ");
  const { run, usage } = await command.load();
  const args = argv.slice(command.path.length);
  if (args.some((a) => HELP_WORDS.has(a))) {
    stdout.write(`usage: ${usage}\n`);
    return 0;
  }
  try {
    return (await run(args, stdout, stderr)) ?? 0;
  } catch (e) {
    const usageError = usageErrorOf(e);
    if (!usageError) {
      stderr.write(`session-events: error: ${(e as Error).message}\n`);
      return 1;
    }
    const flag = usageError.message.split(":")[0]!;
    const why =
      !command.connects && CONNECTION_FLAGS.has(flag) && usageError.message.endsWith("unknown flag")
        ? ` ('${name}' does not call a collector)`
        : "";
    stderr.write(`session-events: error: ${usageError.message}${why}\nsee 'session-events ${name} --help'\n`);
    return 2;
  }
}
