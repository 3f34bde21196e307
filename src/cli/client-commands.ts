/**
 * The client side of the CLI:
 *   session-events emit start --component X --shell-type Y [--metadata JSON] [--json]
 *   session-events emit end SESSION_ID [--metadata JSON] [--json]
 *   session-events sessions list [--component X] [--status open|ended] [--since T] [--until T] [--page-size N] [--page-token T]
 *   session-events sessions get SESSION_ID
 *   session-events health [--service NAME] [--wait-ms N] [--json]
 * Connection flags everywhere: --target, --token, --tls-ca, --tls-cert, --tls-key, --deadline-ms
 * (and SESSION_EVENTS_TARGET, SESSION_EVENTS_TOKEN).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { status as grpcStatus, type Client, type ServiceError } from "@grpc/grpc-js";
import { HealthClient, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health.js";
import { bridges } from "../bridge/index.js";
import { describeError } from "../contract/errors.js";
import { parseTimestamp } from "../contract/timestamp.js";
import type { JsonObject } from "../contract/types.js";
import { authMetadata, channelCredentials, channelTarget, parseTargets } from "../client/connection.js";
import { EmitError } from "../client/emitter.js";
import { DEFAULT_RETRY, withRetries } from "../client/retry.js";
import { MAX_PAGE_SIZE } from "../collector/collector.js";
import { SessionEndEvent, SessionStartEvent } from "../session/models.js";
import {
  EmitSessionEndRequest,
  EmitSessionStartRequest,
  GetSessionRequest,
  ListSessionsRequest,
  SessionServiceClient,
  SessionStatus,
  type EmitSessionEndResponse,
  type EmitSessionStartResponse,
  type GetSessionResponse,
  type ListSessionsResponse,
  type Session,
} from "../../gen/oneiric/session/v1/session_service.js";
import { aliased } from "./flags.js";
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
  if (!/^\d+$/.test(deadline) || Number(deadline) < 1)
    throw new UsageError(`--deadline-ms: must be a positive integer (got ${JSON.stringify(deadline)})`);
  if ((get("tls-cert") === undefined) !== (get("tls-key") === undefined))
    throw new UsageError("--tls-cert and --tls-key: give both or neither");
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

/** Flags with a value come back in `values`, switches (--json) in `flags`. */
function parse(
  args: string[],
  options: ParseArgsConfig["options"],
  positionals: number,
): { values: Record<string, string | undefined>; flags: Record<string, boolean | undefined>; positionals: string[] } {
  const parsed = parseArgs({
    args,
    options: { ...CONNECTION_OPTIONS, ...options },
    allowPositionals: true,
    strict: true,
  });
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(
      positionals === 0
        ? `unexpected argument: ${parsed.positionals[0]}`
        : `expected ${positionals} argument(s), got ${parsed.positionals.length}`,
    );
  }
  const values: Record<string, string | undefined> = {};
  const flags: Record<string, boolean | undefined> = {};
  for (const [k, v] of Object.entries(parsed.values)) {
    if (typeof v === "boolean") flags[k] = v;
    else values[k] = v as string | undefined;
  }
  return { values, flags, positionals: parsed.positionals };
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

/** Emits are idempotent (a start on its event_id, an end on its session): safe to retry. */
const EMIT_RETRY = { ...DEFAULT_RETRY, maxAttempts: 3 };

const JSON_FLAG = { json: { type: "boolean" } } as const;

export const emitStartUsage = `session-events emit start --component NAME --shell-type TYPE [--metadata JSON] [--json]

Report a session start; prints the session id (--json: {"session_id", "status"},
status "created", or "duplicate" for a retry the collector had already stored).
exit: 0 stored, 1 refused (the gRPC code and why) or unreachable, 2 usage
${connectionHelp}`;

export async function emitStart(args: string[], stdout: NodeJS.WritableStream): Promise<void> {
  const { values, flags } = parse(
    args,
    { component: { type: "string" }, "shell-type": { type: "string" }, metadata: { type: "string" }, ...JSON_FLAG },
    0,
  );
  if (!values.component) throw new UsageError("--component: is required");
  if (!values["shell-type"]) throw new UsageError("--shell-type: is required");
  const c = connection(values);
  const event = SessionStartEvent.create({
    componentName: values.component,
    shellType: values["shell-type"],
    metadata: metadataFlag(values.metadata),
  });
  const request = EmitSessionStartRequest.fromPartial({ event: bridges.SessionStartEvent.fromJson(event) });
  const answer = await emitCall<EmitSessionStartResponse>(c, "emitSessionStart", request);
  const result = { session_id: answer.sessionId, status: answer.status };
  stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `${answer.sessionId}\n`);
}

export const emitEndUsage = `session-events emit end SESSION_ID [--metadata JSON] [--json]

Report a session end; prints the session id (--json: {"session_id", "status"},
status "ended", or "duplicate" when the session had already ended: nothing
more was stored; said on stderr without --json).
exit: 0 stored (or already ended), 1 refused (NOT_FOUND, ...) or unreachable, 2 usage
${connectionHelp}`;

export async function emitEnd(
  args: string[],
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
): Promise<void> {
  const { values, flags, positionals } = parse(args, { metadata: { type: "string" }, ...JSON_FLAG }, 1);
  const c = connection(values);
  const event = SessionEndEvent.create({ sessionId: positionals[0]!, metadata: metadataFlag(values.metadata) });
  const request = EmitSessionEndRequest.fromPartial({ event: bridges.SessionEndEvent.fromJson(event) });
  const answer = await emitCall<EmitSessionEndResponse>(c, "emitSessionEnd", request);
  const result = { session_id: answer.sessionId, status: answer.status };
  if (flags.json) stdout.write(`${JSON.stringify(result)}\n`);
  else {
    stdout.write(`${answer.sessionId}\n`);
    if (answer.status === "duplicate")
      stderr.write(
        `session-events: note: ${answer.sessionId} had already ended (duplicate): nothing more was stored\n`,
      );
  }
}

export const sessionsListUsage = `session-events sessions list [--component NAME] [--status open|ended] [--since RFC3339] [--until RFC3339] [--page-size N] [--page-token T]

List sessions as JSON: {"sessions": [...], "next_page_token": "..."}, oldest
start first. --since (inclusive) and --until (exclusive) bound the start time
(older names: --after, --before). --page-size 1..${MAX_PAGE_SIZE} [50].
${connectionHelp}`;

const STATUS_FLAG: Record<string, SessionStatus> = {
  open: SessionStatus.SESSION_STATUS_OPEN,
  ended: SessionStatus.SESSION_STATUS_ENDED,
};

export async function sessionsList(args: string[], stdout: NodeJS.WritableStream): Promise<void> {
  const { values } = parse(
    args,
    {
      component: { type: "string" },
      status: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      after: { type: "string" },
      before: { type: "string" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
      ...JSON_FLAG, // the output is JSON already: accepted for the same flags everywhere
    },
    0,
  );
  if (values.status !== undefined && !Object.hasOwn(STATUS_FLAG, values.status))
    throw new UsageError(`--status: must be open or ended (got ${JSON.stringify(values.status)})`);
  const pageSize = values["page-size"] ?? "0"; // 0: the collector's default
  if (
    values["page-size"] !== undefined &&
    (!/^\d+$/.test(pageSize) || Number(pageSize) < 1 || Number(pageSize) > MAX_PAGE_SIZE)
  ) {
    throw new UsageError(
      `--page-size: must be an integer from 1 to ${MAX_PAGE_SIZE} (got ${JSON.stringify(pageSize)})`,
    );
  }
  const time = (flag: string, old: string) => {
    const text = aliased(values, flag, old);
    if (text === undefined) return undefined;
    try {
      return parseTimestamp(text);
    } catch {
      const given = values[flag] !== undefined ? flag : old;
      throw new UsageError(
        `--${given}: must be an RFC 3339 date-time, e.g. 2026-02-06T12:34:56Z (got ${JSON.stringify(text)})`,
      );
    }
  };
  const request = ListSessionsRequest.fromPartial({
    componentName: values.component ?? "",
    status: values.status ? STATUS_FLAG[values.status] : SessionStatus.SESSION_STATUS_UNSPECIFIED,
    startedAfter: time("since", "after"),
    startedBefore: time("until", "before"),
    pageSize: Number(pageSize),
    pageToken: values["page-token"] ?? "",
  });
  const page = await unary<ListSessionsResponse>(connection(values), "listSessions", request);
  stdout.write(
    `${JSON.stringify({ sessions: page.sessions.map(sessionJson), next_page_token: page.nextPageToken }, null, 2)}\n`,
  );
}

export const sessionsGetUsage = `session-events sessions get SESSION_ID

Print one session as JSON (its status, duration and events in contract JSON).
${connectionHelp}`;

export async function sessionsGet(args: string[], stdout: NodeJS.WritableStream): Promise<void> {
  const { values, positionals } = parse(args, { ...JSON_FLAG }, 1);
  const got = await unary<GetSessionResponse>(
    connection(values),
    "getSession",
    GetSessionRequest.fromPartial({ sessionId: positionals[0] }),
  );
  stdout.write(`${JSON.stringify(sessionJson(got.session!), null, 2)}\n`);
}

export const healthUsage = `session-events health [--service NAME] [--wait-ms N] [--json]

Ask a collector's grpc.health.v1 service whether it serves (no token needed);
prints SERVING, NOT_SERVING or SERVICE_UNKNOWN (--json: {"service", "status"}).
  --service NAME  one service (oneiric.session.v1.SessionService, ...) [the server: ""]
  --wait-ms N     ask again until it answers SERVING or N ms have passed (for scripts
                  that start a collector and go on once it is up)
exit: 0 SERVING, 1 anything else (or unreachable), 2 usage
${connectionHelp}`;

export async function health(args: string[], stdout: NodeJS.WritableStream): Promise<number> {
  const { values, flags } = parse(
    args,
    { service: { type: "string" }, "wait-ms": { type: "string" }, ...JSON_FLAG },
    0,
  );
  const waitText = values["wait-ms"] ?? "0";
  if (!/^\d+$/.test(waitText) || Number(waitText) > 3_600_000)
    throw new UsageError(`--wait-ms: must be an integer from 0 to 3600000 (got ${JSON.stringify(waitText)})`);
  const c = connection(values);
  const service = values.service ?? "";
  const until = Date.now() + Number(waitText);
  const client = new HealthClient(c.target, channelCredentials(c.tls));
  try {
    for (;;) {
      const answer = await check(client, service, c, until).catch((e: ServiceError) => e);
      const serving = !(answer instanceof Error) && answer === "SERVING";
      if (serving || Date.now() >= until) {
        if (answer instanceof Error) throw refusal(answer);
        stdout.write(flags.json ? `${JSON.stringify({ service, status: answer })}\n` : `${answer}\n`);
        return serving ? 0 : 1;
      }
      await new Promise((r) => setTimeout(r, 100)); // not up yet: ask again shortly
    }
  } finally {
    client.close();
  }
}

function check(client: Client, service: string, c: Connection, until: number): Promise<string> {
  // While waiting, wait for the channel too (a collector still starting refuses connections).
  const waiting = until > Date.now();
  return new Promise((resolve, reject) =>
    (
      client as unknown as {
        check: (
          r: object,
          m: unknown,
          o: object,
          cb: (e: ServiceError | null, r: { status: HealthCheckResponse_ServingStatus }) => void,
        ) => void;
      }
    ).check(
      { service },
      authMetadata(c.token),
      { deadline: Math.max(Date.now() + c.deadlineMs, until), waitForReady: waiting },
      (error, response) =>
        error ? reject(error) : resolve(HealthCheckResponse_ServingStatus[response.status] ?? String(response.status)),
    ),
  );
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

type Method = "listSessions" | "getSession" | "emitSessionStart" | "emitSessionEnd";

/** One call; a refusal as an EmitError whose message is "CODE: details". */
function unary<Res>(c: Connection, method: Method, request: object): Promise<Res> {
  return call<Res>(c, method, request).catch((e: ServiceError) => {
    throw refusal(e);
  });
}

/** One call, retried while the collector is unreachable (emits are idempotent). */
function emitCall<Res>(c: Connection, method: "emitSessionStart" | "emitSessionEnd", request: object): Promise<Res> {
  return withRetries(EMIT_RETRY, () => call<Res>(c, method, request)).catch((e: ServiceError) => {
    throw refusal(e);
  });
}

const refusal = (e: ServiceError) =>
  typeof e?.code === "number" ? new EmitError(`${grpcStatus[e.code]}: ${e.details}`, e.code, e) : e;

function call<Res>(c: Connection, method: Method, request: object): Promise<Res> {
  const client = new SessionServiceClient(channelTarget(c.target), channelCredentials(c.tls));
  return new Promise<Res>((resolve, reject) => {
    (client[method] as (r: object, m: unknown, o: object, cb: (e: ServiceError | null, r: Res) => void) => void)(
      request,
      authMetadata(c.token),
      { deadline: Date.now() + c.deadlineMs },
      (error, response) => (error ? reject(error) : resolve(response)),
    );
  }).finally(() => client.close());
}
