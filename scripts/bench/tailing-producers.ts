/**
 * VRP producers for the tailing bench, in their own process: SESSIONS
 * sessions over STREAMS StreamEvents calls, RATE events/s in all (paced every
 * 10 ms, 256 unacknowledged per call at most), for DURATION ms. Each event
 * carries its send time (details.sent, epoch ms) for the subscribers' lag.
 * Prints {scheduled, sent, acked, seconds} as JSON (an event due while its
 * call's window is full is not sent: the collector is not keeping up), for
 * the whole run and (`steady`) after the first WARMUP ms.
 * They ask for coalesced Acks (x-coalesce-acks), as VrpProducer does.
 *
 *   node tailing-producers.js TARGET RATE SESSIONS STREAMS DURATION_MS [WARMUP_MS]
 */
import { credentials, Metadata } from "@grpc/grpc-js";
import { bridges } from "../../src/bridge/index.js";
import {
  StreamEventsRequest,
  VrpStreamServiceClient,
  type StreamEventsResponse,
} from "../../gen/vrp/v1alpha1/vrp_service.js";
import { COALESCE_ACKS_KEY } from "../../src/vrp/stream-headers.js";

const [target, rateText, sessionsText, streamsText, durationText, warmupText = "0"] = process.argv.slice(2);
const warmupMs = Number(warmupText);
const [rate, sessions, streams, durationMs] = [rateText, sessionsText, streamsText, durationText].map(Number) as [
  number,
  number,
  number,
  number,
];
const client = new VrpStreamServiceClient(target!, credentials.createInsecure());
const now = () => performance.timeOrigin + performance.now();

let scheduled = 0;
let sent = 0;
let acked = 0;
const calls = Array.from({ length: streams }, (_, c) => {
  const metadata = new Metadata();
  metadata.set(COALESCE_ACKS_KEY, "1");
  const call = client.streamEvents(metadata);
  // Every session of this call starts with SESSION_CREATED.
  const mine = Array.from({ length: sessions }, (_, s) => s).filter((s) => s % streams === c);
  const state = { call, sent: 0, acked: 0, session: 0, mine };
  call.on("data", (r: StreamEventsResponse) => {
    if (r.kind?.$case === "ack") {
      acked += Number(r.kind.value.acceptedCount) - state.acked;
      state.acked = Number(r.kind.value.acceptedCount);
    }
  });
  call.on("error", () => {});
  for (const s of mine) {
    call.write(
      StreamEventsRequest.fromPartial({
        event: bridges.VrpEvent.fromJson({
          ts_ms: Date.now(),
          event_type: "SESSION_CREATED",
          session_id: `tail-${s}`,
          details: { sent: now() },
        }),
      }),
    );
    state.sent++;
  }
  return state;
});

const started = performance.now();
let tick = 0;
let atWarmup: { scheduled: number; sent: number; acked: number; at: number } | undefined;
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    if (performance.now() - started >= durationMs) {
      clearInterval(timer);
      resolve();
      return;
    }
    if (atWarmup === undefined && performance.now() - started >= warmupMs)
      atWarmup = { scheduled, sent, acked, at: performance.now() };
    // Catch up to the rate since the start (a late timer sends more).
    const due = Math.floor(((performance.now() - started) / 1000) * rate) - scheduled;
    for (let i = 0; i < due; i++) {
      const c = calls[(tick + i) % streams]!;
      if (c.sent - c.acked >= 256) continue; // the window is full: this event is dropped from the schedule
      const s = c.mine[c.session++ % c.mine.length]!;
      c.call.write(
        StreamEventsRequest.fromPartial({
          event: bridges.VrpEvent.fromJson({
            ts_ms: Date.now(),
            event_type: "MUTATION_TICK",
            session_id: `tail-${s}`,
            details: { sent: now() },
          }),
        }),
      );
      c.sent++;
      sent++;
    }
    tick += due;
    scheduled += due;
  }, 10);
});
const seconds = (performance.now() - started) / 1000;
for (const c of calls) c.call.end();
const from = atWarmup ?? { scheduled: 0, sent: 0, acked: 0, at: started };
const steady = {
  scheduled: scheduled - from.scheduled,
  sent: sent - from.sent,
  acked: acked - from.acked,
  seconds: (performance.now() - from.at) / 1000,
};
console.log(JSON.stringify({ scheduled, sent, acked, seconds, steady }));
setTimeout(() => process.exit(0), 500).unref();
