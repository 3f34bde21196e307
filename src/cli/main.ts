/**
 * The `session-events` command. Commands are a table: a word path and its
 * handler, so adding one is adding a row.
 */
import process from "node:process";
import { schemasExport, schemasExportUsage } from "./schemas.js";
import { serve, serveUsage } from "./serve.js";
import { UsageError } from "./usage-error.js";

interface Command {
  readonly path: readonly string[];
  readonly usage: string;
  run(args: string[], stdout: NodeJS.WritableStream): void | Promise<void>;
}

const COMMANDS: readonly Command[] = [
  { path: ["serve"], usage: serveUsage, run: serve },
  { path: ["schemas", "export"], usage: schemasExportUsage, run: schemasExport },
];

const overview = `usage: session-events <command> [options]

commands:
${COMMANDS.map((c) => `  ${c.usage.split("\n")[0]}`).join("\n")}

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
  const args = argv.slice(command.path.length);
  if (args.includes("--help") || args.includes("-h")) {
    stdout.write(`usage: ${command.usage}\n`);
    return 0;
  }
  try {
    await command.run(args, stdout);
    return 0;
  } catch (e) {
    const usage = e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    stderr.write(`session-events: error: ${(e as Error).message}\n`);
    if (usage) stderr.write(`usage: ${command.usage}\n`);
    return usage ? 2 : 1;
  }
}
