/**
 * SessionService over grpc-js: decodes requests strictly, hands them to the
 * Collector and maps its answers and refusals to gRPC. A client's mistake is
 * INVALID_ARGUMENT (with field violations), NOT_FOUND, FAILED_PRECONDITION or
 * ALREADY_EXISTS; only our own faults are INTERNAL.
 */
import { status, type ServerUnaryCall, type sendUnaryData, type ServiceDefinition } from "@grpc/grpc-js";
import { BUILT_IN_CONTRACT, type SessionMappings } from "../bridge/served.js";
import type { Collector, SessionView } from "../collector/collector.js";
import { CollectorError } from "../collector/errors.js";
import type { SessionFilter } from "../state/session-tables.js";
import {
  EmitSessionEndRequest,
  EmitSessionEndResponse,
  EmitSessionStartRequest,
  EmitSessionStartResponse,
  GetSessionRequest,
  GetSessionResponse,
  ListSessionsRequest,
  ListSessionsResponse,
  SessionServiceService,
  SessionStatus,
  type Session,
} from "../../gen/oneiric/session/v1/session_service.js";
import type { CollectorMetrics } from "../metrics/collector-metrics.js";
import type { Logger } from "./logger.js";
import { toServiceError } from "./rich-error.js";
import { requestMapping, strictly, type Decoded } from "./strict-decode.js";

/** The generated definition, with strict request decoding of events as `mappings` (the served contract's) describe them. */
export function sessionServiceDefinitionFor(mappings: SessionMappings): ServiceDefinition {
  return {
    ...SessionServiceService,
    emitSessionStart: {
      ...SessionServiceService.emitSessionStart,
      requestDeserialize: strictly(
        requestMapping("oneiric.session.v1.EmitSessionStartRequest", mappings.SessionStartEvent),
        EmitSessionStartRequest,
      ),
    },
    emitSessionEnd: {
      ...SessionServiceService.emitSessionEnd,
      requestDeserialize: strictly(
        requestMapping("oneiric.session.v1.EmitSessionEndRequest", mappings.SessionEndEvent),
        EmitSessionEndRequest,
      ),
    },
    getSession: {
      ...SessionServiceService.getSession,
      requestDeserialize: strictly(requestMapping("oneiric.session.v1.GetSessionRequest"), GetSessionRequest),
    },
    listSessions: {
      ...SessionServiceService.listSessions,
      requestDeserialize: strictly(requestMapping("oneiric.session.v1.ListSessionsRequest"), ListSessionsRequest),
    },
  } as unknown as ServiceDefinition;
}

/** The definition for this build's contract. */
export const sessionServiceDefinition = sessionServiceDefinitionFor(BUILT_IN_CONTRACT.mappings);

/** `metrics`: counts each event stored (not a retry answered "duplicate"). */
export function sessionServiceHandlers(collector: Collector, logger: Logger, metrics?: CollectorMetrics) {
  /** One unary handler: decoded request in, response or status out. */
  const unary =
    <Req, Res>(name: string, handle: (request: Req) => Promise<Res> | Res) =>
    (call: ServerUnaryCall<Decoded<Req>, Res>, callback: sendUnaryData<Res>): void => {
      const { message, error } = call.request;
      if (error) return void callback(toServiceError(error));
      if (call.cancelled) return void callback({ code: status.CANCELLED, details: "cancelled before it was handled" });
      Promise.resolve()
        .then(() => handle(message))
        .then(
          (response) => callback(null, response),
          (e: unknown) => {
            if (e instanceof CollectorError) return callback(toServiceError(e));
            logger.error("internal error", { method: name, error: (e as Error).stack ?? String(e) });
            callback({ code: status.INTERNAL, details: "internal error (see the collector's log)" });
          },
        );
    };

  return {
    emitSessionStart: unary<EmitSessionStartRequest, EmitSessionStartResponse>("EmitSessionStart", async (req) => {
      const answer = await collector.emitStart(req.event);
      if (answer.status === "created") metrics?.eventStored("session", "SessionStartEvent");
      return EmitSessionStartResponse.fromPartial(answer);
    }),
    emitSessionEnd: unary<EmitSessionEndRequest, EmitSessionEndResponse>("EmitSessionEnd", async (req) => {
      const answer = await collector.emitEnd(req.event);
      if (answer.status === "ended") metrics?.eventStored("session", "SessionEndEvent");
      return EmitSessionEndResponse.fromPartial(answer);
    }),
    // On a shared log, a read first waits until this replica has applied every write acknowledged before it.
    getSession: unary<GetSessionRequest, GetSessionResponse>("GetSession", async (req) => {
      if (req.sessionId) await collector.caughtUp();
      return GetSessionResponse.fromPartial({ session: toSession(collector.getSession(req.sessionId)) });
    }),
    listSessions: unary<ListSessionsRequest, ListSessionsResponse>("ListSessions", async (req) => {
      await collector.caughtUp();
      const page = collector.listSessions(toFilter(req), req.pageSize, req.pageToken);
      return ListSessionsResponse.fromPartial({
        sessions: page.sessions.map(toSession),
        nextPageToken: page.nextPageToken,
      });
    }),
  };
}

function toSession(view: SessionView): Session {
  return {
    sessionId: view.sessionId,
    status: view.status === "ended" ? SessionStatus.SESSION_STATUS_ENDED : SessionStatus.SESSION_STATUS_OPEN,
    start: view.start,
    end: view.end,
    durationMs: view.durationMs,
  };
}

const STATUS_FILTERS: Record<number, SessionFilter["status"]> = {
  [SessionStatus.SESSION_STATUS_UNSPECIFIED]: undefined,
  [SessionStatus.SESSION_STATUS_OPEN]: "open",
  [SessionStatus.SESSION_STATUS_ENDED]: "ended",
};

function toFilter(req: ListSessionsRequest): SessionFilter {
  if (!Object.hasOwn(STATUS_FILTERS, req.status)) {
    throw new CollectorError("INVALID_ARGUMENT", `status: unknown SessionStatus ${req.status}`, [
      { path: "/status", rule: "enum", message: `unknown SessionStatus ${req.status}` },
    ]);
  }
  for (const [field, ts] of [
    ["started_after", req.startedAfter],
    ["started_before", req.startedBefore],
  ] as const) {
    if (ts && (ts.nanos < 0 || ts.nanos > 999_999_999)) {
      throw new CollectorError("INVALID_ARGUMENT", `${field}: nanos must be 0..999999999`, [
        { path: `/${field}`, rule: "timestamp_range", message: "nanos must be 0..999999999" },
      ]);
    }
  }
  return {
    componentName: req.componentName || undefined,
    status: STATUS_FILTERS[req.status],
    startedAfter: req.startedAfter,
    startedBefore: req.startedBefore,
  };
}
