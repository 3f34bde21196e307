/**
 * The client side of the CLI:
 *   session-events emit start --component X --shell-type Y [--metadata JSON]
 *   session-events emit end SESSION_ID [--metadata JSON]
 *   session-events sessions list [--component X] [--status open|ended] [--after T] [--before T] [--page-size N] [--page-token T]
 *   session-events sessions get SESSION_ID
 * Connection flags everywhere: --target, --token, --tls-ca, --tls-cert, --tls-key, --deadline-ms
 * (and SESSION_EVENTS_TARGET, SESSION_EVENTS_TOKEN). Output is JSON on stdout.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { bridges } from "../bridge/index.js";
import { describeError } from "../contract/errors.js";
import { parseTimestamp } from "../contract/timestamp.js";
import type { JsonObject } from "../contract/types.js";
import { authMetadata, channelCredentials, channelTarget, parseTargets } from "../client/connection.js";
import { EmitError, SessionEventEmitter } from "../client/emitter.js";
import {
  GetSessionRequest,
  ListSessionsRequest,
  SessionServiceClient,
  SessionStatus,
  type GetSessionResponse,
  type ListSessionsResponse,
  type Session,
} from "../../gen/oneiric/session/v1/session_service.js";
import { UsageError } from "./usage-error.js";

export const CONNECTION_OPTIONS = {
  target: { type: "string" },
  token: { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "deadline-ms": { type: "string" },
} as const satisfies ParseArgsConfig["options"];

export const connectionHelp = `connection: --target host:port[,host:port...] (several collectors: fail over between them)
            [env SESSION_EVENTS_TARGET, default 127.0.0.1:50051]
            --token T [env SESSION_EVENTS_TOKEN]  --tls-ca PEM  --tls-cert PEM --tls-key PEM (mutual TLS)
            --deadline-ms N [3000]`;

export interface Connection {
  target: string;
  token: string | undefined;
  tls: { ca?: string; cert?: string; key?: string } | undefined;
  deadlineMs: number;
}

export function connection(values: Record<string, string | undefined>): Connection {
  const get = (k: string) => values[k];
  const deadline = get("deadline-ms") ?? "3000";
  if (!/^\d+$/.test(deadline) || Number(deadline) < 1) throw new UsageError(`--deadline-ms: must be a positive integer (got ${JSON.stringify(deadline)})`);
  if ((get("tls-cert") === undefined) !== (get("tls-key") === undefined)) throw new UsageError("--tls-cert and --tls-key: give both or neither");
  const tlsWanted = get("tls-ca") ?? get("tls-cert");
  const target = get("target") ?? process.env.SESSION_EVENTS_TARGET ?? "127.0.0.1:50051";
  try {
    parseTargets(target);
  } catch (e) {
    throw new UsageError(`--target: ${(e as Error).message.replace(/^target: /, "")}`);
  }
  return {
    target,
    token: get("token") ?? (process.env.SESSION_EVENTS_TOKEN || undefined),
    tls: tlsWanted ? { ca: get("tls-ca"), cert: get("tls-cert"), key: get("tls-key") } : undefined,
    deadlineMs: Number(deadline),
  };
}

/** All our flags take a value, so the parsed values are strings. */
function parse(args: string[], options: ParseArgsConfig["options"], positionals: number): { values: Record<string, string | undefined>; positionals: string[] } {
  const parsed = parseArgs({ args, options: { ...CONNECTION_OPTIONS, ...options }, allowPositionals: true, strict: true });
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(positionals === 0 ? `unexpected argument: ${parsed.positionals[0]}` : `expected ${positionals} argument(s), got ${parsed.positionals.length}`);
  }
  return { values: parsed.values as Record<string, string | undefined>, positionals: parsed.positionals };
}

function metadataFlag(text: string | undefined): JsonObject | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as JsonObject;
  } catch (e) {
    throw new UsageError(`--metadata: must be a JSON object (${describeError(e)})`);
  }
}

function emitter(c: Connection, component = "session-events-cli"): SessionEventEmitter {
  return new SessionEventEmitter({ target: c.target, componentName: component, token: c.token, tls: c.tls, deadlineMs: c.deadlineMs, retry: { maxAttempts: 3 } });
}

export const emitStartUsage = `session-events emit start --component NAME --shell-type TYPE [--metadata JSON]

Report a session start; prints the session id.
${connectionHelp}`;

export async function emitStart(args: string[], stdout: NodeJS.WritableStream): Promise<void> {
  const { values } = parse(args, { component: { type: "string" }, "shell-type": { type: "string" }, metadata: { type: "string" } }, 0);
  if (!values.component) throw new UsageError("--component: is required");
  if (!values["shell-type"]) throw new UsageError("--shell-type: is required");
  const client = emitter(connection(values), values.component);
  try {
    const sessionId = await client.emitSessionStart({ shellType: values["shell-type"], metadata: metadataFlag(values.metadata) });
    stdout.write(`${sessionId}\n`);
  } finally {
    await client.close();
  }
}

export const emitEndUsage = `session-events emit end SESSION_ID [--metadata JSON]

Report a session end.
${connectionHelp}`;

export async function emitEnd(args: string[], stdout: NodeJS.WritableStream): Promise<void> {
  const { values, positionals } = parse(args, { metadata: { type: "string" } }, 1);
  const client = emitter(connection(values));
  try {
    await client.emitSessionEnd(positionals[0]!, metadataFlag(values.metadata));
    stdout.write(`${positionals[0]}\n`);
  } finally {
    await client.close();
  }
}

export const sessionsListUsage = `session-events sessions list [--component NAME] [--status open|ended] [--after RFC3339] [--before RFC3339] [--page-size N] [--page-token T]

List sessions as JSON: {"sessions": [...], "next_page_token": "..."}.
${connectionHelp}`;

const STATUS_FLAG: Record<string, SessionStatus> = { open: SessionStatus.SESSION_STATUS_OPEN, ended: SessionStatus.SESSION_STATUS_ENDED };

export async function sessionsList(args: string[], stdout: NodeJS.WritableStream): Promise<void> {
  const { values } = parse(
    args,
    { component: { type: "string" }, status: { type: "string" }, after: { type: "string" }, before: { type: "string" }, "page-size": { type: "string" }, "page-token": { type: "string" } },
    0,
  );
  if (values.status !== undefined && !Object.hasOwn(STATUS_FLAG, values.status)) throw new UsageError(`--status: must be open or ended (got ${JSON.stringify(values.status)})`);
  const pageSize = values["page-size"] ?? "0";
  if (!/^\d+$/.test(pageSize)) throw new UsageError(`--page-size: must be a non-negative integer (got ${JSON.stringify(pageSize)})`);
  const time = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    try {
      return parseTimestamp(text);
    } catch {
      throw new UsageError(`--${flag}: must be an RFC 3339 date-time, e.g. 2026-02-06T12:34:56Z (got ${JSON.stringify(text)})`);
    }
  };
  const request = ListSessionsRequest.fromPartial({
    componentName: values.component ?? "",
    status: values.status ? STATUS_FLAG[values.status] : SessionStatus.SESSION_STATUS_UNSPECIFIED,
    startedAfter: time("after", values.after),
    startedBefore: time("before", values.before),
    pageSize: Number(pageSize),
    pageToken: values["page-token"] ?? "",
  });
  const page = await unary<ListSessionsResponse>(connection(values), "listSessions", request);
  stdout.write(`${JSON.stringify({ sessions: page.sessions.map(sessionJson), next_page_token: page.nextPageToken }, null, 2)}\n`);
}

export const sessionsGetUsage = `session-events sessions get SESSION_ID

Print one session as JSON.
${connectionHelp}`;

export async function sessionsGet(args: string[], stdout: NodeJS.WritableStream): Promise<void> {
  const { values, positionals } = parse(args, {}, 1);
  const got = await unary<GetSessionResponse>(connection(values), "getSession", GetSessionRequest.fromPartial({ sessionId: positionals[0] }));
  stdout.write(`${JSON.stringify(sessionJson(got.session!), null, 2)}\n`);
}

/** A session as contract JSON: the events in their schema's form. */
function sessionJson(s: Session): object {
  return {
    session_id: s.sessionId,
    status: s.status === SessionStatus.SESSION_STATUS_ENDED ? "ended" : "open",
    duration_ms: Number(s.durationMs),
    start: s.start ? bridges.SessionStartEvent.toJson(s.start) : null,
    end: s.end ? bridges.SessionEndEvent.toJson(s.end) : null,
  };
}

function unary<Res>(c: Connection, method: "listSessions" | "getSession", request: object): Promise<Res> {
  const client = new SessionServiceClient(channelTarget(c.target), channelCredentials(c.tls));
  return new Promise<Res>((resolve, reject) => {
    (client[method] as (r: object, m: unknown, o: object, cb: (e: ServiceError | null, r: Res) => void) => void)(
      request,
      authMetadata(c.token),
      { deadline: Date.now() + c.deadlineMs },
      (error, response) => (error ? reject(new EmitError(`${grpcStatus[error.code]}: ${error.details}`, error.code, error)) : resolve(response)),
    );
  }).finally(() => client.close());
}
