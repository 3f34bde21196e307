/**
 * Server interceptors (grpc-js >= 1.10): bearer-token auth and one log line
 * per call.
 */
import { timingSafeEqual } from "node:crypto";
import { ServerInterceptingCall, status, type ServerInterceptor } from "@grpc/grpc-js";
import type { Logger } from "./logger.js";

/** Health checks stay open: load balancers and orchestrators probe without credentials. */
const OPEN_PATHS = ["/grpc.health.v1.Health/"];

/** RFC 6750: "Bearer", whose case does not matter (RFC 7235), one or more spaces, the token. */
const BEARER = /^bearer +(.*)$/i;

export function authInterceptor(token: string): ServerInterceptor {
  const expected = Buffer.from(token);
  return (method, call) =>
    new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            if (OPEN_PATHS.some((p) => method.path.startsWith(p))) return nextMetadata(metadata);
            const given = metadata.get("authorization")[0];
            const presented = Buffer.from((typeof given === "string" ? BEARER.exec(given)?.[1] : undefined) ?? "");
            const ok = presented.length === expected.length && timingSafeEqual(presented, expected);
            if (ok) return nextMetadata(metadata);
            call.sendStatus({
              code: status.UNAUTHENTICATED,
              details:
                given === undefined
                  ? "authorization: missing (expected 'Bearer <token>')"
                  : "authorization: wrong token",
            });
          },
        });
      },
    });
}

export function loggingInterceptor(logger: Logger): ServerInterceptor {
  return (method, call) => {
    const started = process.hrtime.bigint();
    return new ServerInterceptingCall(call, {
      sendStatus(result, next) {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const fields = { method: method.path, code: status[result.code], ms: Math.round(ms * 100) / 100 };
        if (result.code === status.OK) logger.debug("call", fields);
        else logger.info("call", { ...fields, details: result.details });
        next(result);
      },
    });
  };
}
