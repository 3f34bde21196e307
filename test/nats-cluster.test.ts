/**
 * The test harness itself (test/support/nats-cluster.ts): real nats-server
 * processes on free loopback ports, a meta leader awaited with a deadline,
 * a node killed and restarted with its store, and nothing left running.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NatsCluster } from "./support/nats-cluster.js";

const alive = (pid: number | undefined) => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("a single JetStream server starts, answers, and is gone after destroy", async () => {
  const cluster = await NatsCluster.start({ nodes: 1 });
  const node = cluster.nodes[0]!;
  const pid = node.pid;
  try {
    assert.ok(alive(pid));
    const jsz = await node.monitor("/jsz");
    assert.ok(jsz, "the monitoring endpoint answers");
    assert.is(cluster.servers, node.url);
  } finally {
    await cluster.destroy();
  }
  assert.not.ok(alive(pid), "the server process is gone");
});

test("3 nodes elect one meta leader; a killed node restarts on its ports and rejoins", async () => {
  const cluster = await NatsCluster.start({ nodes: 3 });
  try {
    const leader = await cluster.waitForMetaLeader();
    assert.ok(["n1", "n2", "n3"].includes(leader));
    // A follower: the leader's loss (an election, seconds) is jetstream-log.test.ts's matter.
    const victim = cluster.nodes.find((n) => n.name !== leader)!;
    const pid = victim.pid;
    await victim.kill();
    assert.not.ok(alive(pid));
    assert.not.ok(victim.running);
    await victim.start();
    assert.ok(victim.running);
    assert.is.not(victim.pid, pid);
    // All three agree on one leader again (a restart may move leadership).
    const now = await cluster.waitForMetaLeader();
    const jsz = await victim.monitor("/jsz");
    assert.is(jsz.meta_cluster.leader, now, "the restarted node follows the cluster's leader");
  } finally {
    await cluster.destroy();
  }
  assert.ok(cluster.nodes.every((n) => !n.running));
});

test.run();
