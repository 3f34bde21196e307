/**
 * A test that cannot run here (a tool is missing) is skipped out loud: uvu
 * counts it under "Skipped", and scripts/test.sh prints the "SKIP:" lines and
 * fails the run on any skip. CI=true turns the skip into a failing test.
 */
import { test } from "uvu";

export function skipped(name: string, why: string): void {
  console.log(`SKIP: ${name} (${why})`);
  test.skip(name, () => {});
}
