/** A server interceptor that counts every call: started, handled (by code), and how long it took. */
import { ServerInterceptingCall, status, type ServerInterceptor } from "@grpc/grpc-js";
import type { CollectorMetrics } from "./collector-metrics.js";

const TYPES = {
  "false,false": "unary",
  "false,true": "server_stream",
  "true,false": "client_stream",
  "true,true": "bidi_stream",
} as const;

export function metricsInterceptor(metrics: CollectorMetrics): ServerInterceptor {
  return (method, call) => {
    const [, service = "", name = ""] = /^\/([^/]+)\/(.+)$/.exec(method.path) ?? [];
    const labels = {
      grpc_type: TYPES[`${method.requestStream},${method.responseStream}`],
      grpc_service: service,
      grpc_method: name,
    };
    metrics.callsStarted.inc(labels);
    const endTimer = metrics.callSeconds.startTimer(labels);
    let done = false;
    const finish = (code: status) => {
      if (done) return;
      done = true;
      endTimer();
      metrics.callsHandled.inc({ ...labels, grpc_code: status[code] ?? String(code) });
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({ onCancel: () => finish(status.CANCELLED) });
      },
      sendStatus(result, next) {
        finish(result.code);
        next(result);
      },
    });
  };
}
