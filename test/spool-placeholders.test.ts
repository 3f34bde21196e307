/**
 * The placeholders' journal (placeholders.jsonl): each batch appends what
 * it learnt instead of rewriting every placeholder in its window; a torn
 * last line (a crash mid-append) is dropped and never appended after; an
 * unreadable line is reported; an older state.json that carried the
 * placeholders is read and moved over. Real files, the real Spool.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PlaceholderJournal } from "../src/client/spool-placeholders.js";
import { Spool, type SpoolError } from "../src/client/spool.js";
import { tempDir } from "./support/repo.js";

const DAY = 86_400_000;
const lines = (file: string) => readFileSync(file, "utf8").split("\n").filter(Boolean);

test("a batch appends only what it learnt; a rewrite keeps only the live entries", async () => {
  const file = path.join(tempDir("placeholders-append-"), "placeholders.jsonl");
  const { journal } = await PlaceholderJournal.load(file);
  const live = new Map<string, readonly [string, number]>([
    ["pending_a", ["sess_a", 1]],
    ["pending_b", ["sess_b", 2]],
  ]);
  await journal.save(
    [
      ["pending_a", "sess_a", 1],
      ["pending_b", "sess_b", 2],
    ],
    live,
  );
  live.set("pending_c", ["sess_c", 3]);
  await journal.save([["pending_c", "sess_c", 3]], live);
  assert.equal(lines(file), ['["pending_a","sess_a",1]', '["pending_b","sess_b",2]', '["pending_c","sess_c",3]']);
  live.delete("pending_a"); // pruned
  assert.is(journal.stale(live.size), 1);
  await journal.rewrite(live);
  assert.equal(lines(file), ['["pending_b","sess_b",2]', '["pending_c","sess_c",3]']);
  const reread = await PlaceholderJournal.load(file);
  assert.equal(reread.entries, [
    ["pending_b", "sess_b", 2],
    ["pending_c", "sess_c", 3],
  ]);
});

test("a torn last line is dropped, and the next save rewrites rather than appending after it", async () => {
  const file = path.join(tempDir("placeholders-torn-"), "placeholders.jsonl");
  writeFileSync(file, '["pending_a","sess_a",1]\n["pending_b","se');
  const { journal, entries, unreadable } = await PlaceholderJournal.load(file);
  assert.equal(entries, [["pending_a", "sess_a", 1]]);
  assert.is(unreadable, 0, "a torn tail is what a crash leaves, not damage");
  const live = new Map<string, readonly [string, number]>([
    ["pending_a", ["sess_a", 1]],
    ["pending_b", ["sess_b", 5]],
  ]);
  await journal.save([["pending_b", "sess_b", 5]], live);
  assert.equal((await PlaceholderJournal.load(file)).entries, [
    ["pending_a", "sess_a", 1],
    ["pending_b", "sess_b", 5],
  ]);
});

test("an unreadable line in the middle is reported by the spool as DATA_LOSS; the others are kept", async () => {
  const dir = tempDir("placeholders-damaged-");
  const now = Date.now();
  writeFileSync(
    path.join(dir, "placeholders.jsonl"),
    `["pending_a","sess_a",${now}]\n{garbage\n["pending_b","sess_b",${now}]\n`,
  );
  const errors: SpoolError[] = [];
  const spool = await Spool.open({ dir, onError: (e) => errors.push(e), placeholderRetentionMs: DAY });
  try {
    assert.is(errors.length, 1);
    assert.is(errors[0]!.code, "DATA_LOSS");
    assert.match(errors[0]!.message, /1 unreadable lines in placeholders\.jsonl/);
    assert.is(spool.resolvedId("pending_a"), "sess_a");
    assert.is(spool.resolvedId("pending_b"), "sess_b");
  } finally {
    await spool.close();
  }
  assert.is(lines(path.join(dir, "placeholders.jsonl")).length, 2, "rewritten without the damaged line");
});

test("an older state.json that carried the placeholders is read, and they move to the journal", async () => {
  const dir = tempDir("placeholders-legacy-");
  const now = Date.now();
  writeFileSync(
    path.join(dir, "state.json"),
    JSON.stringify({ generation: 0, delivered: "0", spooled: "0", resolved: { pending_old: ["sess_old", now] } }),
  );
  const spool = await Spool.open({ dir, onError: (e) => assert.unreachable(e.message), placeholderRetentionMs: DAY });
  assert.is(spool.resolvedId("pending_old"), "sess_old");
  await spool.close();
  const state = JSON.parse(readFileSync(path.join(dir, "state.json"), "utf8")) as Record<string, unknown>;
  assert.not.ok("resolved" in state, "state.json no longer carries them");
  assert.equal(lines(path.join(dir, "placeholders.jsonl")), [`["pending_old","sess_old",${now}]`]);
  const reopened = await Spool.open({
    dir,
    onError: (e) => assert.unreachable(e.message),
    placeholderRetentionMs: DAY,
  });
  assert.is(reopened.resolvedId("pending_old"), "sess_old");
  await reopened.close();
});

test.run();
