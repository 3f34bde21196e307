/**
 * One writer per directory: the lock file `DIR/LOCK`.
 *
 * The old lock held a bare pid and refused "already open in this process"
 * when that pid was its own. A pid is not an identity: after a SIGKILL the
 * next process may get the same pid (PID 1 in every container), and that
 * process was then refused forever. So:
 *
 * - "Already open in this process" is a registry in this module (the random
 *   token of every lock this process holds), never a pid comparison.
 *
 * - The lock records who holds it, as one JSON object:
 *     pid, start  the holder's pid and start time (/proc/<pid>/stat field 22,
 *                 clock ticks after boot). The same pid with another start
 *                 time is another process: the pid was reused.
 *     boot        /proc/sys/kernel/random/boot_id: after a reboot no holder lives.
 *     pidns       the holder's pid namespace (/proc/self/ns/pid). A pid means
 *                 nothing in another namespace: a restarted container, or a
 *                 second container on the same volume, cannot check it. The
 *                 kernel reuses a namespace's number once the namespace is
 *                 gone, so the same number means the same namespace or a
 *                 dead holder; the pid and start time then tell which (a
 *                 process of a newer namespace started after the holder).
 *     beacon      the name of a unix socket in DIR that the holder listens on
 *                 while it holds the lock. The kernel stops answering it the
 *                 moment the holder dies, however it dies, and it answers
 *                 across pid namespaces: the one check that tells a crashed
 *                 container from a live one next to it.
 *     token       random: tells this holding from every other (same pid or
 *                 not) and names the holder's files (LOCK.<token>.sock, .new).
 *     host, since for the person reading the error.
 *   An older version's lock (a bare pid) is still understood.
 *
 * - Is the holder alive? In this order: its token is ours → "already open in
 *   this process"; its beacon answers → alive; its beacon is refused (the
 *   socket file is there, nobody listens) → dead. Without a beacon answer
 *   (the socket file was deleted, or the file system cannot hold sockets):
 *   another boot id → dead; another pid namespace → cannot tell: refused,
 *   naming the file to delete; no such pid, a zombie, or a pid with another
 *   start time → dead; otherwise alive. Without /proc (or with a /proc of
 *   another pid namespace), kill(pid, 0) answers for the pid alone.
 *
 * Taking the lock. Every attempt first publishes a claim `LOCK.<token>.new`
 * (written complete under `.tmp`, fsynced, renamed), which is also the lock
 * to be: its content is the holder record.
 *
 * - No lock yet: link(claim, LOCK). link fails with EEXIST if LOCK exists,
 *   so exactly one process creates it, and LOCK is never seen half written
 *   (the old open("wx") + write let a reader see an empty file, call it
 *   stale, remove it, and win beside its owner).
 *
 * - A stale lock must be replaced, and that is where two starting processes
 *   can both win. "rm + exclusive create" lets B, which judged the same stale
 *   lock as A, remove the lock A has just created and create its own.
 *   rename(new, LOCK) replaces whatever is there, so two renames both
 *   "succeed". Renaming the stale lock aside and checking what was moved
 *   needs a way to put a live lock back, which races a third process. So the
 *   takers exclude each other with their claims: a taker, its claim already
 *   published, lists the other claims; dead claimants' files are removed (a
 *   dead process never acts again, so that is always safe); if any other
 *   claimant is alive (or cannot be judged) it withdraws its claim, waits a
 *   random few milliseconds and starts again. Otherwise it re-reads LOCK and,
 *   if it is still the stale lock it judged, renames its claim over it.
 *   Two takers cannot both pass: each published its claim before listing, so
 *   the later one to list sees the earlier one's claim, or (if that one has
 *   already renamed it into place) a LOCK that is no longer the stale one.
 *   A fresh link cannot interfere: it succeeds only where there is no LOCK,
 *   and a stale LOCK stays in place until it is atomically replaced.
 *
 * This is a lock for processes on one machine (one kernel). Sharing a data
 * directory between machines over a network file system is not supported:
 * the boot ids differ, and a live holder there would be judged gone. The
 * directory's file system must support hard links (every Linux one in use for
 * data does; vfat and some FUSE file systems do not: link's error is reported).
 */
import { randomBytes } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { link, open, readFile, readdir, rename, unlink } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { syncPath } from "./fsync.js";
import { LogLockedError } from "./errors.js";

const LOCK = "LOCK";
const OWN_FILE = /^LOCK\.([0-9a-f]{32})\.(new|tmp|sock)$/;
const BEACON = /^LOCK\.[0-9a-f]{32}\.sock$/;
/** A unix socket path is at most 107 bytes (sun_path, with its NUL). */
const MAX_SOCKET_PATH = 107;
/** How long a knock on a beacon may take before it counts as no answer. */
const KNOCK_MS = 2000;
/** Takeover attempts before giving up when other processes keep claiming too. */
const MAX_ATTEMPTS = 50;

/** What a lock (or a claim) says about its holder. Only `pid` in an older version's lock. */
interface Holder {
  readonly pid: number;
  readonly start?: number;
  readonly boot?: string;
  readonly pidns?: string;
  readonly host?: string;
  readonly since?: string;
  readonly token?: string;
  readonly beacon?: string;
}

type Verdict = { readonly state: "mine" } | { readonly state: "alive" | "dead" | "unknown"; readonly why: string };

interface Held {
  readonly token: string;
  readonly beacon: net.Server | undefined;
}

/** The locks this process holds, by lock file. */
const held = new Map<string, Held>();

/**
 * Take the lock of a directory for this process; resolves with the lock
 * file's path, for releaseLock. Refuses with LogLockedError (naming the
 * directory, the holder and what to do) when a live process holds it, this
 * one included.
 */
export async function acquireLock(dir: string): Promise<string> {
  const root = path.resolve(dir);
  const file = path.join(root, LOCK);
  const token = randomBytes(16).toString("hex");
  const beaconName = `LOCK.${token}.sock`;
  const beacon = await listenBeacon(root, beaconName);
  const me = self();
  const holder: Holder = {
    pid: process.pid,
    ...(me.start !== undefined && { start: me.start }),
    ...(me.boot !== undefined && { boot: me.boot }),
    ...(me.pidns !== undefined && { pidns: me.pidns }),
    host: os.hostname(),
    since: new Date().toISOString(),
    token,
    ...(beacon && { beacon: beaconName }),
  };
  const claim = path.join(root, `LOCK.${token}.new`);
  let claimed = false;
  let trouble = "";
  try {
    for (let attempt = 1; ; attempt++) {
      if (attempt > MAX_ATTEMPTS)
        throw new LogLockedError(
          `${root}: could not take the lock ${file} in ${MAX_ATTEMPTS} attempts: ${trouble}; try again`,
        );
      if (!claimed) {
        await publishClaim(root, token, holder);
        claimed = true;
      }
      // No lock: create it, complete, in one step.
      try {
        await link(claim, file);
        held.set(file, { token, beacon });
        await unlink(claim);
        claimed = false;
        await syncPath(root);
        return file;
      } catch (e) {
        if (errorCode(e) !== "EEXIST") throw e;
      }
      const current = await readLock(file);
      if (!current) {
        trouble = "it was released and taken again, over and over";
        continue; // released meanwhile: try again
      }
      if (!current.holder) throw new LogLockedError(unreadableMessage(root, file, current.text));
      const verdict = await judge(root, current.holder);
      if (verdict.state !== "dead") throw new LogLockedError(heldMessage(root, file, current.holder, verdict));
      // Stale. Replace it only while no other live process is replacing it too.
      const rivals = await otherClaimants(root, token);
      if (rivals.length > 0) {
        await unlink(claim);
        claimed = false;
        trouble = `the lock is stale (${verdict.why}), but other processes kept taking it over at the same time (${rivals.join("; ")})`;
        await delay(5 + Math.random() * Math.min(200, 5 * attempt));
        continue;
      }
      const again = await readLock(file);
      if (!again || again.text !== current.text) {
        trouble = "it kept changing while being taken over";
        continue; // judge it again
      }
      await rename(claim, file);
      held.set(file, { token, beacon });
      claimed = false;
      await syncPath(root);
      if (current.holder.token) await removeFilesOf(root, current.holder.token);
      return file;
    }
  } catch (e) {
    if (claimed) await unlink(claim).catch(() => {});
    // Won, then failed (to sync the directory, say): give it back whole.
    if (held.get(file)?.token === token) await releaseLock(file).catch(() => {});
    else await closeBeacon(root, beaconName, beacon);
    throw e;
  }
}

/** Give up a lock acquireLock returned. Removes the lock file only while it is still this holding's. */
export async function releaseLock(file: string): Promise<void> {
  const key = path.resolve(file);
  const mine = held.get(key);
  if (!mine) return;
  held.delete(key);
  try {
    const current = await readLock(key);
    if (current?.holder?.token === mine.token) await unlink(key).catch(ignoreMissing);
  } finally {
    await closeBeacon(path.dirname(key), `LOCK.${mine.token}.sock`, mine.beacon);
  }
}

// --- the holder record ------------------------------------------------------

async function publishClaim(root: string, token: string, holder: Holder): Promise<void> {
  const tmp = path.join(root, `LOCK.${token}.tmp`);
  const handle = await open(tmp, "w");
  try {
    await handle.writeFile(`${JSON.stringify(holder)}\n`);
    await handle.sync(); // after a power cut the lock is complete or absent, never empty
  } catch (e) {
    await handle.close();
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await handle.close();
  await rename(tmp, path.join(root, `LOCK.${token}.new`));
}

/** The lock's text and, if it can be read as one, its holder; undefined if there is no lock. */
async function readLock(file: string): Promise<{ text: string; holder: Holder | undefined } | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if (errorCode(e) === "ENOENT") return undefined;
    throw e;
  }
  return { text, holder: parseHolder(text) };
}

function parseHolder(text: string): Holder | undefined {
  const trimmed = text.trim();
  if (/^[1-9]\d{0,9}$/.test(trimmed)) return { pid: Number(trimmed) }; // an older version's lock
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (!Number.isSafeInteger(v.pid) || (v.pid as number) <= 0) return undefined;
  const str = (x: unknown) => (typeof x === "string" && x.length <= 200 ? x : undefined);
  return {
    pid: v.pid as number,
    ...(Number.isSafeInteger(v.start) && (v.start as number) >= 0 && { start: v.start as number }),
    ...(str(v.boot) && { boot: str(v.boot) }),
    ...(str(v.pidns) && { pidns: str(v.pidns) }),
    ...(str(v.host) && { host: str(v.host) }),
    ...(str(v.since) && { since: str(v.since) }),
    ...(typeof v.token === "string" && /^[0-9a-f]{32}$/.test(v.token) && { token: v.token }),
    // Only a name in the directory: a lock file never makes us connect elsewhere.
    ...(typeof v.beacon === "string" && BEACON.test(v.beacon) && { beacon: v.beacon }),
  };
}

// --- is the holder alive? ----------------------------------------------------

async function judge(root: string, h: Holder): Promise<Verdict> {
  if (h.token && [...held.values()].some((m) => m.token === h.token)) return { state: "mine" };
  const me = self();
  const itIsUs =
    h.pid === process.pid &&
    h.start !== undefined &&
    h.start === me.start &&
    h.boot === me.boot &&
    h.pidns === me.pidns;
  const us = "it is this process: another worker thread, or another copy of this module";
  let beaconNote = "";
  if (h.beacon) {
    const knock = await knockOn(root, h.beacon);
    if (knock === "answered")
      return {
        state: "alive",
        why: itIsUs ? `${us}; it answers on its socket ${h.beacon}` : `it answers on its socket ${h.beacon}`,
      };
    if (knock === "refused") return { state: "dead", why: `nothing listens on its socket ${h.beacon} any more` };
    beaconNote = `; its socket ${h.beacon}: ${knock}`;
  }
  if (h.boot && me.boot && h.boot !== me.boot)
    return { state: "dead", why: `the machine has restarted since (boot id ${h.boot}, now ${me.boot})` };
  if (h.pidns && me.pidns && h.pidns !== me.pidns) {
    return {
      state: "unknown",
      why: `it ran in another pid namespace (${h.pidns}; this process is in ${me.pidns}), where its pid cannot be checked${beaconNote}`,
    };
  }
  if (h.pid === process.pid) {
    if (h.start === undefined)
      return {
        state: "dead",
        why: `it names this process's pid, which this process did not lock: an earlier process had the pid${beaconNote}`,
      };
    if (me.start !== undefined && h.start !== me.start)
      return { state: "dead", why: `pid ${h.pid} is now this process, started later (pid reuse)${beaconNote}` };
    return { state: "alive", why: `${us}${beaconNote}` };
  }
  if (me.procIsOurs) {
    const stat = procStat(h.pid);
    if (!stat) return { state: "dead", why: `no process ${h.pid} is running${beaconNote}` };
    if (stat.state === "Z" || stat.state === "X")
      return { state: "dead", why: `process ${h.pid} has exited${beaconNote}` };
    if (h.start !== undefined && stat.start !== h.start) {
      return {
        state: "dead",
        why: `pid ${h.pid} now belongs to another process (started at tick ${stat.start}, the holder at ${h.start}: pid reuse)${beaconNote}`,
      };
    }
    return {
      state: "alive",
      why:
        h.start === undefined
          ? `process ${h.pid} is running (an older lock: no start time to check)${beaconNote}`
          : `process ${h.pid} is running${beaconNote}`,
    };
  }
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if (errorCode(e) === "ESRCH") return { state: "dead", why: `no process ${h.pid} is running${beaconNote}` };
  }
  return { state: "alive", why: `process ${h.pid} is running (its start time cannot be checked here)${beaconNote}` };
}

/** Claims of other processes that are alive (or cannot be judged); dead ones' files are removed. */
async function otherClaimants(root: string, mine: string): Promise<string[]> {
  const tokens = new Set<string>();
  for (const name of await readdir(root)) {
    const m = OWN_FILE.exec(name);
    if (m && m[2] === "new" && m[1] !== mine) tokens.add(m[1]!);
  }
  const rivals: string[] = [];
  for (const token of tokens) {
    const name = `LOCK.${token}.new`;
    const claim = await readLock(path.join(root, name));
    if (!claim) continue; // withdrawn or renamed into place meanwhile
    const holder = claim.holder;
    const verdict = holder ? await judge(root, holder) : undefined;
    if (verdict?.state === "dead") {
      await removeFilesOf(root, token);
      continue;
    }
    rivals.push(holder ? `${name}: process ${holder.pid}` : `${name}: unreadable`);
  }
  return rivals;
}

/** The files a dead holder left: its claim, its half-written claim, its socket. */
async function removeFilesOf(root: string, token: string): Promise<void> {
  for (const kind of ["new", "tmp", "sock"])
    await unlink(path.join(root, `LOCK.${token}.${kind}`)).catch(ignoreMissing);
}

interface Self {
  readonly start: number | undefined;
  readonly boot: string | undefined;
  readonly pidns: string | undefined;
  /** /proc shows this process's pid namespace (not so after unshare --pid without --mount-proc). */
  readonly procIsOurs: boolean;
}

let cachedSelf: Self | undefined;
let cachedFor: number | undefined;

function self(): Self {
  if (cachedSelf && cachedFor === process.pid) return cachedSelf;
  const attempt = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch {
      return undefined;
    }
  };
  cachedFor = process.pid;
  cachedSelf = {
    start: attempt(() => parseStat(readFileSync("/proc/self/stat", "utf8")).start),
    boot: attempt(() => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()) || undefined,
    pidns: attempt(() => readlinkSync("/proc/self/ns/pid")),
    procIsOurs: attempt(() => readlinkSync("/proc/self")) === String(process.pid),
  };
  return cachedSelf;
}

function procStat(pid: number): { state: string; start: number } | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** Fields of /proc/<pid>/stat: the command (field 2) may hold spaces and parentheses, so count after its last ")". */
function parseStat(text: string): { state: string; start: number } {
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const start = Number(fields[19]); // field 22: start time, clock ticks after boot
  if (!Number.isSafeInteger(start)) throw new Error("unexpected /proc stat format");
  return { state: fields[0]!, start };
}

// --- the beacon ---------------------------------------------------------------

/**
 * Listen on DIR/name while the lock is held. Undefined if the file system
 * cannot hold a socket: the lock then rests on the pid checks alone.
 */
async function listenBeacon(root: string, name: string): Promise<net.Server | undefined> {
  const server = net.createServer({ pauseOnConnect: true }, (socket) => socket.destroy());
  try {
    await viaShortPath(
      root,
      name,
      (address) =>
        new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(address, () => {
            server.off("error", reject);
            resolve();
          });
        }),
    );
  } catch {
    return undefined;
  }
  server.on("error", () => {}); // an accept that fails (EMFILE) must not bring the process down
  server.unref(); // the lock never keeps a process alive
  return server;
}

async function closeBeacon(root: string, name: string, server: net.Server | undefined): Promise<void> {
  if (!server) return;
  // Removed by its real name: the name it was bound with may have been a /proc/self/fd path.
  await unlink(path.join(root, name)).catch(() => {});
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** "answered", "refused" (a socket nobody listens on), "missing", or what else went wrong. */
function knockOn(root: string, name: string): Promise<string> {
  return viaShortPath(
    root,
    name,
    (address) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(address);
        const finish = (result: string) => {
          clearTimeout(timer);
          socket.destroy();
          resolve(result);
        };
        const timer = setTimeout(() => finish(`no answer in ${KNOCK_MS} ms`), KNOCK_MS);
        socket.once("connect", () => finish("answered"));
        socket.once("error", (e: NodeJS.ErrnoException) =>
          finish(e.code === "ECONNREFUSED" ? "refused" : e.code === "ENOENT" ? "missing" : (e.code ?? e.message)),
        );
      }),
  ).catch((e: unknown) => (e as Error).message);
}

/** A socket path within sun_path's limit: DIR/name itself, or through an open descriptor of DIR (Linux). */
async function viaShortPath<T>(root: string, name: string, use: (address: string) => Promise<T>): Promise<T> {
  const full = path.join(root, name);
  if (Buffer.byteLength(full) <= MAX_SOCKET_PATH || process.platform !== "linux") return use(full);
  const handle = await open(root, "r");
  try {
    return await use(`/proc/self/fd/${handle.fd}/${name}`);
  } finally {
    await handle.close();
  }
}

// --- messages -------------------------------------------------------------------

function describe(h: Holder): string {
  return [`process ${h.pid}`, h.host && `on ${h.host}`, h.since && `since ${h.since}`].filter(Boolean).join(" ");
}

function heldMessage(root: string, file: string, h: Holder, verdict: Verdict): string {
  if (verdict.state === "mine")
    return `${root} is already open in this process (close it there first, or open it read-only)`;
  const remedy = `Only one process may write a data directory: stop that one first, or use another directory. If you are sure no process uses ${root}, delete ${file}`;
  if (verdict.state === "unknown")
    return `${root} is locked by ${describe(h)}, which cannot be checked from here: ${verdict.why}. ${remedy}`;
  return `${root} is in use by ${describe(h)} (${verdict.why}). ${remedy}`;
}

function unreadableMessage(root: string, file: string, text: string): string {
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
  return `${root}: the lock ${file} cannot be read (${shown}): another program may be writing it. If you are sure no process uses ${root}, delete ${file}`;
}

// --- helpers --------------------------------------------------------------------

function errorCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function ignoreMissing(e: unknown): void {
  if (errorCode(e) !== "ENOENT") throw e;
}
