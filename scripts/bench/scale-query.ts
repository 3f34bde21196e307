/**
 * The scale bench's query client, run as its own process (as vrp-load.ts is
 * for VRP): GetSession (random sessions, one call at a time, from grpc-js and,
 * in turn, from a bare node:http2 client: bare-unary.ts) and ListSessions
 * pages against a collector, printed as one JSON line (Queries, with the
 * client's own GC during the GetSession calls).
 *
 *   node scale-query.js PORT SESSIONS RECORDS
 *
 * Why a process of its own: in the bench's process the client shared a heap
 * with the log writer and the bench, and its garbage collections (4–15 ms
 * scavenges: grpc-js and node:http2 objects survive young collections in
 * chains) landed inside the timed calls; on the bench machine (2 cores) it
 * also competed with the collector for a core.
 */
import { PerformanceObserver } from "node:perf_hooks";
import { credentials } from "@grpc/grpc-js";
import { parseTimestamp } from "../../src/contract/timestamp.js";
import {
  GetSessionRequest,
  ListSessionsRequest,
  SessionServiceClient,
  SessionStatus,
} from "../../gen/oneiric/session/v1/session_service.js";
import { bareUnary } from "./bare-unary.js";
import { median } from "./harness.js";
import { COMPONENTS, sessionId, startMs, tokenAfter, type Queries } from "./scale-log.js";

const MiB = 2 ** 20;
const GET_SESSION_PATH = "/oneiric.session.v1.SessionService/GetSession";

function p99(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

async function timed(calls: number, fn: (i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

/** The client's own GC pauses while `fn` runs (count and milliseconds). */
async function withGcCount<T>(fn: () => Promise<T>): Promise<{ result: T; gcs: number; gcMs: number }> {
  let gcs = 0;
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcs++;
      gcMs += e.duration;
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  const result = await fn();
  observer.disconnect();
  return { result, gcs, gcMs };
}

async function query(port: number, sessions: number, records: number): Promise<Queries> {
  const client = new SessionServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 * MiB,
  });
  const unary = <Req, Res>(method: "getSession" | "listSessions", req: Req) =>
    new Promise<Res>((resolve, reject) =>
      (client[method] as unknown as (r: Req, cb: (e: Error | null, r: Res) => void) => void)(req, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
  let seed = 12345;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const bare = bareUnary(`127.0.0.1:${port}`);
  const bareGet = (id: string) =>
    bare.call(GET_SESSION_PATH, GetSessionRequest.encode({ sessionId: id }).finish()).then(() => undefined);
  const randomGet = () =>
    unary("getSession", GetSessionRequest.fromPartial({ sessionId: sessionId(random(sessions)) }));
  await timed(200, async () => {
    await randomGet();
    await bareGet(sessionId(random(sessions)));
  }); // warm-up
  // The two clients call in turn, so both meet the server in the same state (as warm, as busy).
  const getMs: number[] = [];
  const bareMs: number[] = [];
  const get = await withGcCount(async () => {
    for (let i = 0; i < 2000; i++) {
      getMs.push(...(await timed(1, () => randomGet().then(() => undefined))));
      bareMs.push(...(await timed(1, () => bareGet(sessionId(random(sessions))))));
    }
  });
  bare.close();
  const listed: number[] = [];
  const list = (filter: () => Partial<ListSessionsRequest>) =>
    timed(300, async () => {
      const r = await unary<ListSessionsRequest, { sessions: unknown[] }>(
        "listSessions",
        ListSessionsRequest.fromPartial({ pageSize: 50, pageToken: tokenAfter(random(records)), ...filter() }),
      );
      listed.push(r.sessions.length);
    });
  const listComponentMs = await list(() => ({ componentName: `component-${random(COMPONENTS)}` }));
  const listOpenMs = await list(() => ({ status: SessionStatus.SESSION_STATUS_OPEN }));
  // Sessions started within one day, from a random position (no index: the scan budget bounds the page).
  const listTimeMs = await list(() => {
    const day = startMs(random(sessions));
    return {
      startedAfter: parseTimestamp(new Date(day).toISOString()),
      startedBefore: parseTimestamp(new Date(day + 86_400_000).toISOString()),
    };
  });
  client.close();
  return {
    getP50: median(getMs),
    getP99: p99(getMs),
    bareGetP50: median(bareMs),
    bareGetP99: p99(bareMs),
    getClientGcs: get.gcs,
    getClientGcMs: get.gcMs,
    listComponentP99: p99(listComponentMs),
    listOpenP99: p99(listOpenMs),
    listTimeP99: p99(listTimeMs),
    listedMedian: median(listed),
  };
}

const [port, sessions, records] = process.argv.slice(2).map(Number);
process.stdout.write(`${JSON.stringify(await query(port!, sessions!, records!))}\n`);
