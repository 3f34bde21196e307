/**
 * A host process that embeds a SessionEventEmitter, for fault tests that
 * need a real second process (killed, or PID 1 of a pid namespace).
 * Argument: a JSON object { target, spoolDir, pairs, flush?, resolve?, hold? }.
 * Prints one JSON object per line on stdout: {"start": id}, {"end": id},
 * {"flushed": n}, {"resolved": {placeholder: id}}, {"error": message},
 * {"done": true}; with `hold` it then waits to be killed, otherwise it closes and exits.
 */
import { SessionEventEmitter } from "../../src/client/emitter.js";

interface HostOptions {
  readonly target: string;
  readonly spoolDir: string;
  readonly pairs: number;
  readonly flush?: boolean;
  readonly resolve?: readonly string[];
  readonly hold?: boolean;
}

const options = JSON.parse(process.argv[2]!) as HostOptions;
const say = (value: object) => process.stdout.write(`${JSON.stringify(value)}\n`);
const emitter = new SessionEventEmitter({
  target: options.target,
  componentName: "host",
  spoolDir: options.spoolDir,
  neverThrow: true,
  onError: (e) => say({ error: e.message }),
});
/** Flush until the spool is empty (the collector may have just come back), for at most 20 s. */
async function flushAll(): Promise<number> {
  let total = 0;
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    total += await emitter.flush();
    if (emitter.stats().spooledEvents === 0) break;
  }
  return total;
}
if (options.flush) say({ flushed: await flushAll() });
if (options.resolve) {
  const resolved: Record<string, string> = {};
  for (const p of options.resolve) resolved[p] = await emitter.resolveSessionId(p);
  say({ resolved });
}
for (let i = 0; i < options.pairs; i++) {
  const id = await emitter.emitSessionStart({ shellType: "Shell", metadata: { i } });
  say({ start: id });
  if (id) {
    await emitter.emitSessionEnd(id);
    say({ end: id });
  }
}
say({ done: true });
if (options.hold) setInterval(() => {}, 1 << 30);
else {
  if (options.flush) say({ flushed: await flushAll() });
  await emitter.close();
}
