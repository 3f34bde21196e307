/**
 * How a command reads its options (flag, else environment variable, else
 * default; errors name whichever was used), and the NATS connection flags
 * on top of it: shared by `serve --engine jetstream` and `archive export
 * nats://…`, so both take the same flags and environment variables
 * (SERVE_OPTIONS names them) and refuse the same mistakes the same way.
 */
import { readFileSync } from "node:fs";
import { UsageError } from "./usage-error.js";

/** An option's flag, its environment variable, and its default. */
export interface FlagSpec {
  readonly flag: string;
  readonly env: string;
  readonly default?: string;
}

export interface OptionReader {
  /** The option's text: the flag, else a non-empty environment variable, else its default. */
  raw(s: FlagSpec): string | undefined;
  /** Where the value came from, for an error: "--flag" or the variable's name. */
  where(s: FlagSpec): string;
  /** The bytes of the file the option names (a UsageError naming the option if it cannot be read). */
  file(s: FlagSpec): Buffer | undefined;
}

export function optionReader(values: Record<string, unknown>, env: NodeJS.ProcessEnv): OptionReader {
  const raw = (s: FlagSpec): string | undefined =>
    (values[s.flag] as string | undefined) ?? (env[s.env] || undefined) ?? s.default;
  const where = (s: FlagSpec) => (values[s.flag] !== undefined ? `--${s.flag}` : env[s.env] ? s.env : `--${s.flag}`);
  const file = (s: FlagSpec): Buffer | undefined => {
    const p = raw(s);
    if (p === undefined) return undefined;
    try {
      return readFileSync(p);
    } catch (e) {
      throw new UsageError(
        `${where(s)}: cannot read ${JSON.stringify(p)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      );
    }
  };
  return { raw, where, file };
}

const SERVER_URL = /^(nats|tls):\/\/(\[[0-9a-fA-F:.]+\]|[^:\s/,]+)(:\d{1,5})?$/;

/** "nats://a:4222,nats://b" -> the URLs, each checked; `where` names the flag (or argument) in errors. */
export function natsServerList(text: string, where: string): string[] {
  const servers = text.split(",").map((u) => u.trim());
  for (const url of servers) {
    if (!SERVER_URL.test(url)) {
      throw new UsageError(
        `${where}: each server must be nats://host[:port] or tls://host[:port], comma-separated (got ${JSON.stringify(url)})`,
      );
    }
  }
  return servers;
}

/** The options that say how to reach a deployment's streams, besides the servers. */
export interface NatsAccessSpecs {
  readonly prefix: FlagSpec;
  readonly creds: FlagSpec;
  readonly tokenFile: FlagSpec;
  readonly tlsCa: FlagSpec;
}

export interface NatsAccess {
  readonly prefix: string;
  readonly creds: Buffer | undefined;
  readonly token: string | undefined;
  readonly tlsCa: Buffer | undefined;
}

/** The prefix, credentials or token, and TLS CA, each checked. */
export function natsAccess(reader: OptionReader, specs: NatsAccessSpecs): NatsAccess {
  const { raw, where, file } = reader;
  const prefix = raw(specs.prefix)!;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix))
    throw new UsageError(
      `${where(specs.prefix)}: must be 1 to 64 of A-Z a-z 0-9 _ - (it names NATS subjects, streams and buckets; got ${JSON.stringify(prefix)})`,
    );
  const creds = file(specs.creds);
  const tokenFile = file(specs.tokenFile);
  if (creds && tokenFile) throw new UsageError("--nats-creds and --nats-token-file: give one, not both");
  const token = tokenFile?.toString("utf8").trim();
  if (tokenFile && !token) throw new UsageError(`${where(specs.tokenFile)}: the file is empty`);
  return { prefix, creds, token, tlsCa: file(specs.tlsCa) };
}
