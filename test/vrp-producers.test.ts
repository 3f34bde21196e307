/**
 * Named producers (producer_id / producer_sequence) at the hub, over a real
 * log on disk: every judged number is consumed, a resend of any stored event
 * (however old) is acknowledged where it was stored, other content under a
 * stored number is a conflict, and all of it survives a restart.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import type { VrpEventJson } from "../src/contract/types.js";
import { openDerived } from "./support/derived-state.js";
import { SegmentLog } from "../src/store/segment-log.js";
import { VrpHub, type Accepted, type Duplicate, type Refused } from "../src/collector/vrp-hub.js";
import type { VrpEvent } from "../gen/vrp/v1alpha1/vrp_event.js";
import { tempDir } from "./support/repo.js";

const tick = (n: number): VrpEvent =>
  bridges.VrpEvent.fromJson({
    ts_ms: 1_760_000_000_000 + n,
    event_type: "MUTATION_TICK",
    session_id: "p",
    details: { n },
  } as VrpEventJson);
const invalid = (n: number): VrpEvent => ({ ...tick(n), tsMs: -1n });

async function openHub(dir: string): Promise<{ hub: VrpHub; log: SegmentLog }> {
  const log = await SegmentLog.open({ dir });
  const hub = new VrpHub(log, await openDerived(log, dir));
  return { hub, log };
}

async function settle(outcome: Accepted | Duplicate | Refused): Promise<Accepted | Duplicate | Refused> {
  if (outcome.kind !== "refused") await outcome.durable;
  return outcome;
}

test("a refused event consumes its number: what is pipelined behind it is judged on its own", async () => {
  const { hub, log } = await openHub(tempDir());
  const outcomes = await Promise.all(
    Array.from({ length: 10 }, (_, i) => settle(hub.accept(i === 4 ? invalid(i) : tick(i), "edge", BigInt(i + 1)))),
  );
  assert.equal(
    outcomes.map((o) => o.kind),
    [
      "accepted",
      "accepted",
      "accepted",
      "accepted",
      "refused",
      "accepted",
      "accepted",
      "accepted",
      "accepted",
      "accepted",
    ],
  );
  assert.match((outcomes[4] as Refused).reason, /\/ts_ms: .*\[minimum\]/);
  assert.is(hub.lastProducerSequence("edge"), 10n);
  // The refused number sent again is refused again: nothing is stored under it.
  assert.match(
    (hub.accept(tick(4), "edge", 5n) as Refused).reason,
    /5 was judged before and refused.*\[refused_earlier\]/,
  );
  await log.close();
});

test("a resend of any stored event, however old, is acknowledged with its real log sequence, also after a restart", async () => {
  const dir = tempDir();
  let { hub, log } = await openHub(dir);
  const N = 5000; // more than any recent-window would remember
  const first = (await settle(hub.accept(tick(0), "edge", 1n))) as Accepted;
  const pending: Promise<unknown>[] = [];
  for (let i = 1; i < N; i++) pending.push(settle(hub.accept(tick(i), "edge", BigInt(i + 1))));
  await Promise.all(pending);
  const resend = (await settle(hub.accept(tick(0), "edge", 1n))) as Duplicate;
  assert.is(resend.kind, "duplicate");
  assert.is(resend.sequence, first.sequence);
  await log.close();

  ({ hub, log } = await openHub(dir));
  assert.is(hub.lastProducerSequence("edge"), BigInt(N));
  const afterRestart = hub.accept(tick(0), "edge", 1n) as Duplicate;
  assert.is(afterRestart.kind, "duplicate");
  assert.is(afterRestart.sequence, first.sequence);
  const middle = hub.accept(tick(2500), "edge", 2501n) as Duplicate;
  assert.is(middle.kind, "duplicate");
  assert.is(middle.sequence, first.sequence + 2500n);
  await log.close();
});

test("the same number with other content is refused as a conflict, and the stored content stands", async () => {
  const dir = tempDir();
  let { hub, log } = await openHub(dir);
  await settle(hub.accept(tick(1), "edge", 1n));
  const conflict = hub.accept(tick(99), "edge", 1n) as Refused;
  assert.is(conflict.kind, "refused");
  assert.match(
    conflict.reason,
    /\/producer_sequence: 1 is already stored at log sequence \d+ with different content \[conflict\]/,
  );
  // Key order does not make two events differ.
  const reordered = bridges.VrpEvent.fromJson({
    details: { n: 1 },
    session_id: "p",
    event_type: "MUTATION_TICK",
    ts_ms: 1_760_000_000_001,
  } as VrpEventJson);
  assert.is(hub.accept(reordered, "edge", 1n).kind, "duplicate");
  await log.close();
  ({ hub, log } = await openHub(dir));
  assert.is(hub.accept(tick(99), "edge", 1n).kind, "refused");
  assert.is(hub.accept(tick(1), "edge", 1n).kind, "duplicate");
  await log.close();
});

test.run();
