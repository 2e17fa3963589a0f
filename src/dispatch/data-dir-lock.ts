// One process per data directory: two proxies appending to one spool would interleave segments and
// fight over the cursor. Node has no flock, so the lock is a file:
//
//   <dataDir>/lock   {"pid": 1234, "host": "box", "startedAt": "..."}, created with O_EXCL, mode 0600.
//
// The holder touches it every 5 s and checks it is still its own (an error is logged if not). A lock
// is stale, and taken over with a warning, when its pid is gone on this host (kill(pid, 0) says
// ESRCH), or when it was not touched for 30 s (a holder on another host or pid namespace that died).
// Two processes taking over the same stale lock: each moves it aside under a name of its own (only
// one rename can succeed), checks that what it moved is the stale lock it judged, and creates the new
// lock with O_EXCL; one of them wins, the other sees a fresh lock.
import { randomBytes } from 'node:crypto';
import { mkdir, link, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { S3apError } from '../errors.js';

export const LOCK_FILE = 'lock';
export const LOCK_REFRESH_MS = 5000;
export const LOCK_STALE_MS = 30_000;

interface LockContent {
  pid: number;
  host: string;
  startedAt: string;
  /** Random: two locks written by processes with the same pid in the same millisecond still differ. */
  nonce?: string;
}

/** The data directory is in use by another live process. */
export class DataDirLockedError extends S3apError {
  constructor(readonly dataDir: string, readonly holder: { pid: number | null; host: string | null }) {
    super('S3AP_ERR_DATA_DIR_LOCKED',
      `--data-dir ${dataDir}: in use by another s3-audit-proxy (pid ${holder.pid ?? 'unknown'} on host ${holder.host ?? 'unknown'}); ` +
      'stop it or give this one another --data-dir');
  }
}

export interface DataDirLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Lock contents this process wrote (or is writing): a lock naming our pid and not here is a dead one's. */
const ours = new Set<string>();

function parse(text: string): LockContent | null {
  try {
    const c = JSON.parse(text) as Partial<LockContent>;
    if (Number.isSafeInteger(c.pid) && typeof c.host === 'string' && typeof c.startedAt === 'string') return c as LockContent;
  } catch {
    /* not ours to judge: treated as unknown */
  }
  return null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'; // EPERM: alive, another user's
  }
}

/** Why the lock found on disk is stale, or null when its holder may be alive. */
function staleness(text: string, content: LockContent | null, mtimeMs: number, host: string): string | null {
  if (content && content.host === host) {
    // Our own pid but not our lock: left by an earlier process that had the same pid (a container's pid 1).
    if (content.pid === process.pid ? !ours.has(text) : !pidAlive(content.pid)) return `process ${content.pid} is gone`;
  }
  const age = Date.now() - mtimeMs;
  if (age > LOCK_STALE_MS) return `not refreshed for ${Math.round(age / 1000)} s`;
  return null;
}

async function readLock(path: string): Promise<{ text: string; content: LockContent | null; mtimeMs: number } | null> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { text, content: parse(text), mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Takes the data directory (creating it) for this process, or throws DataDirLockedError naming the
 * holder. Release it on shutdown; a process that dies leaves a lock the next start takes over.
 */
export async function acquireDataDirLock(dataDir: string, logger: Logger): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  const host = hostname();
  const mine = JSON.stringify({ pid: process.pid, host, startedAt: new Date().toISOString(), nonce: randomBytes(8).toString('hex') } satisfies LockContent);
  ours.add(mine);
  try {
    return await takeLock(dataDir, path, mine, host, logger);
  } catch (err) {
    ours.delete(mine);
    throw err;
  }
}

async function takeLock(dataDir: string, path: string, mine: string, host: string, logger: Logger): Promise<DataDirLock> {
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      await writeFile(path, mine, { flag: 'wx', mode: 0o600 });
      if ((await readLock(path))?.text === mine) return holdLock(path, mine, logger);
      continue; // replaced between our create and our read: judge the new one
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const found = await readLock(path);
    if (!found) continue;
    if (!found.content && Date.now() - found.mtimeMs < 1000) {
      await new Promise((r) => setTimeout(r, 100)); // being written by its creator right now
      continue;
    }
    const why = staleness(found.text, found.content, found.mtimeMs, host);
    if (!why) throw new DataDirLockedError(dataDir, { pid: found.content?.pid ?? null, host: found.content?.host ?? null });
    logger.warn({ lock: path, holder: found.content, why }, 'data directory lock is stale: taking it over');
    await takeAway(path, found.text);
  }
  throw new DataDirLockedError(dataDir, { pid: null, host: null });
}

/** Moves the stale lock aside; puts it back if what was moved is not the lock judged stale. */
async function takeAway(path: string, staleText: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // another taker was first
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => null);
  if (moved !== staleText) await link(aside, path).catch(() => {}); // a fresh lock: give it back (unless replaced)
  await unlink(aside).catch(() => {});
}

function holdLock(path: string, mine: string, logger: Logger): DataDirLock {
  let warned = false;
  let released = false;
  const timer = setInterval(() => {
    void (async () => {
      const now = new Date();
      const found = await readLock(path).catch(() => null);
      if (released) return;
      if (found?.text === mine) {
        await utimes(path, now, now).catch(() => {});
        warned = false;
      } else if (!warned) {
        warned = true;
        logger.error({ lock: path, holder: found?.content ?? null }, 'data directory lock is no longer ours: another process may be using this --data-dir');
      }
    })();
  }, LOCK_REFRESH_MS);
  timer.unref();
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      ours.delete(mine);
      if ((await readLock(path).catch(() => null))?.text === mine) await unlink(path).catch(() => {});
    },
  };
}

/**
 * Starts something holding the data directory's lock: released when the start fails, and after the
 * started thing's stop(). For the composition roots (serve, the primary of --workers).
 */
export async function underDataDirLock<T extends { stop(): Promise<void> }>(dataDir: string, logger: Logger, start: () => Promise<T>): Promise<T> {
  const lock = await acquireDataDirLock(dataDir, logger);
  let running: T;
  try {
    running = await start();
  } catch (err) {
    await lock.release();
    throw err;
  }
  const stop = running.stop.bind(running);
  running.stop = () => stop().finally(() => lock.release());
  return running;
}
