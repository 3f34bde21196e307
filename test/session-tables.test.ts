/** The collector's session tables in the state store: what ListSessions reads. */
import { rmSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SessionEndEvent, SessionStartEvent } from "../gen/oneiric/session/v1/session_events.js";
import { SessionTables } from "../src/state/session-tables.js";
import { StateStore } from "../src/state/state-store.js";
import { tempDir } from "./support/repo.js";

const start = (eventId: string, componentName: string) =>
  SessionStartEvent.fromPartial({ eventId, componentName, timestamp: { seconds: 1_700_000_000, nanos: 0 } });

test("a component name longer than LMDB's keys allow is indexed and listed by component, before and after a checkpoint", async () => {
  const dir = tempDir();
  const store = StateStore.open(dir);
  try {
    store.initialise();
    const tables = new SessionTables(store);
    const long = "c".repeat(5000); // the contract bounds a name's characters, not its length
    const longer = `${long}x`; // the same first 448 characters: told apart by the hash
    for (const [id, seq, event] of [
      ["sess_long", 1n, start("e1", long)],
      ["sess_short", 2n, start("e2", "short")],
      ["sess_longer", 3n, start("e3", longer)],
    ] as const) {
      tables.applyStart(id, seq, event, SessionStartEvent.encode(event).finish());
    }
    tables.applyEnd(
      "sess_long",
      SessionEndEvent.encode(SessionEndEvent.fromPartial({ sessionId: "sess_long" })).finish(),
    );
    const ids = (componentName: string): string[] =>
      tables.list({ componentName }, 0n, 10).sessions.map((s) => s.sessionId);
    const check = (when: string) => {
      assert.equal(ids(long), ["sess_long"], `${when}: the long name`);
      assert.equal(ids(longer), ["sess_longer"], `${when}: a longer name with the same start`);
      assert.equal(ids("short"), ["sess_short"], `${when}: a short name`);
      assert.equal(
        tables.list({ componentName: long, status: "ended" }, 0n, 10).sessions.map((s) => s.sessionId),
        ["sess_long"],
        `${when}: its end is indexed under the same key`,
      );
    };
    check("in the overlay");
    store.setApplied(3n);
    assert.ok(store.checkpoint());
    check("being committed");
    await store.settled(); // before the change, LMDB refused the key and the checkpoint failed
    assert.is(store.committed, 3n);
    check("in LMDB");
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
