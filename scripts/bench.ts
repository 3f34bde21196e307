/**
 * `npm run bench`: every benchmark of the project, in one run, printed as
 * markdown. `npm run bench -- --record` also writes the figures into
 * BENCHMARKS.md (between each section's markers), with the machine's details.
 * `--only contract|collector|checkpoint|vrp|latency|archive|tailing|import|log-engines|replicas|scale|emitter` runs one section.
 * Any other flag is refused (exit 2), as is an unknown section.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { archiveTables, benchArchive } from "./bench/archive.js";
import { benchCheckpoint, checkpointTable } from "./bench/checkpoint.js";
import { benchCollector, collectorTable } from "./bench/collector.js";
import { benchContract, contractTables } from "./bench/contract.js";
import { benchEmitter, emitterTables } from "./bench/emitter.js";
import { machine } from "./bench/harness.js";
import { benchImportTime, importTimeTable } from "./bench/import-time.js";
import { benchJetStreamAppend, jetstreamAppendTable } from "./bench/jetstream-append.js";
import { benchLatency, latencyTables } from "./bench/latency.js";
import { benchReplicas, replicasTable } from "./bench/replicas.js";
import { benchSubscriberLag, benchTailCost, tailingTables } from "./bench/tailing.js";
import { benchScale, scaleTable } from "./bench/scale.js";
import { benchVrp, vrpTable } from "./bench/vrp.js";

const usage = "usage: npm run bench -- [--record] [--only SECTION]";
let args: { record?: boolean; only?: string; help?: boolean };
try {
  args = parseArgs({
    options: { record: { type: "boolean" }, only: { type: "string" }, help: { type: "boolean", short: "h" } },
  }).values;
} catch (e) {
  // An unknown flag used to run every section (an hour), ignoring what it asked for.
  console.error(`bench: ${(e as Error).message}\n${usage}`);
  process.exit(2);
}
const { record = false, only } = args;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const sections: { name: string; title: string; run: () => Promise<string> }[] = [
  {
    name: "contract",
    title:
      "Contract bridge (events/s, medians of 41 interleaved rounds; cost = per-round variant time ÷ baseline time, median; ingest against JSON.parse alone, egress against JSON.stringify alone, beside protobuf-es)",
    run: async () => contractTables(benchContract()),
  },
  {
    name: "collector",
    title:
      "Collector, unary EmitSessionStart (load generator in its own process; medians of 5 interleaved rounds of 2.5 s, after one round of each not counted)",
    run: async () => collectorTable(await benchCollector()),
  },
  {
    name: "checkpoint",
    title:
      "State store checkpoint: how long one holds the event loop, against the same changes in one synchronous LMDB transaction (medians of 40 interleaved rounds)",
    run: async () => checkpointTable(await benchCheckpoint()),
  },
  {
    name: "vrp",
    title:
      "VRP StreamEvents, one bidirectional call, 256 events unacknowledged at most (load generator in its own process; medians of 5 interleaved rounds of 3 s)",
    run: async () => vrpTable(await benchVrp()),
  },
  {
    name: "latency",
    title:
      "Latency of a small call beside clients sending max-size events (every process its own; medians of 3 interleaved rounds of 5 s)",
    run: async () => latencyTables(await benchLatency()),
  },
  {
    name: "archive",
    title:
      "Archives, export and import beside the JSON half of the same job (medians of 5 interleaved rounds; peak memory of each job in its own process)",
    run: async () => archiveTables(await benchArchive()),
  },
  {
    name: "tailing",
    title:
      "Tailing: delivering new records to subscribers (log cursor against a read from the sequence, the way before, in the same run)",
    run: async () => tailingTables(await benchTailCost(), await benchSubscriberLag()),
  },
  {
    name: "import",
    title:
      "Import time of each package entry in a fresh process (medians of 21 interleaved rounds beside a bare `node -e 0`)",
    run: async () => importTimeTable(benchImportTime()),
  },
  {
    name: "log-engines",
    title:
      "Log engines, raw appends of 200 bytes, 64 in flight from one process (medians of 3 interleaved rounds of 2 s; JetStream on loopback)",
    run: async () => jetstreamAppendTable(await benchJetStreamAppend()),
  },
  {
    name: "replicas",
    title:
      "Collector replicas on JetStream against the file engine: EmitSessionStart at 256 in flight and VRP events/s through StreamEvents (medians of 3 interleaved rounds of 3 s; everything on this machine)",
    run: async () => replicasTable(await benchReplicas()),
  },
  {
    name: "scale",
    title:
      "Scale: a collector on a log of N sessions (start, listening, memory, queries; SCALE_SESSIONS sizes, SCALE_BASELINE_BIN the baseline build)",
    run: async () => scaleTable(await benchScale()),
  },
  {
    name: "emitter",
    title:
      "Emitter, as its host sees it: emitSessionStart while a spooled backlog drains, and the spool's disk use after delivery (collector in its own process)",
    run: async () => emitterTables(await benchEmitter()),
  },
];

const names = sections.map((s) => s.name);
if (args.help) {
  console.log(`${usage}\nsections: ${names.join(", ")}`);
  process.exit(0);
}
if (only !== undefined && !names.includes(only)) {
  console.error(`bench: --only ${only}: no such section (one of ${names.join(", ")})\n${usage}`);
  process.exit(2);
}

console.log(`Machine:\n${machine()}\n`);
for (const section of sections) {
  if (only && section.name !== only) continue;
  console.log(`${section.title}:\n`);
  const table = await section.run();
  console.log(`${table}\n`);
  if (record) {
    // Read now, not at the start: a long section (scale: 20 minutes) must not undo edits made meanwhile.
    const doc = readFileSync(path.join(root, "BENCHMARKS.md"), "utf8");
    const markers = new RegExp(`<!-- bench:${section.name}:start -->[\\s\\S]*<!-- bench:${section.name}:end -->`);
    if (!markers.test(doc)) throw new Error(`BENCHMARKS.md has no markers for ${section.name}`);
    const recorded = doc.replace(
      markers,
      `<!-- bench:${section.name}:start -->\nMachine:\n\n${machine()}\n\n${table}\n<!-- bench:${section.name}:end -->`,
    );
    writeFileSync(path.join(root, "BENCHMARKS.md"), recorded);
    console.log(`recorded in BENCHMARKS.md (${section.name})`);
  }
}
