// glibc malloc settings for a process that streams large bodies (docs/performance.md, "Large objects
// (session 9)"). Node reads every socket into a fresh 64 KiB buffer, which V8 frees only after a
// scavenge; by default glibc then gives the freed top of the heap back to the kernel (trim threshold
// 128 KiB, raised only after a large mmapped block happens to be freed), so the next reads land on
// pages the kernel has to fault in again: ~230 page faults per MiB streamed, most of the kernel time
// of a large GET or PUT, and the reason one proxy process cost up to 1.6x another. A 32 MiB trim
// threshold keeps that memory; a 4 MiB mmap threshold keeps the 1 MiB event slabs and batch bodies
// in the heap too (an explicit trim threshold turns glibc's dynamic mmap threshold off).
// glibc reads these at process start, so they cannot be set from inside: the image sets them;
// elsewhere `serve` re-executes itself once with them (process.execve: same process id, Node 22.15+,
// Linux with glibc), and `serve --workers` hands them to its workers, when the environment has none
// of its own and --malloc-tuning is not false.

/** What the image and the workers get (glibc's mallopt(3) environment variables). */
export const MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_TRIM_THRESHOLD_: String(32 * 1024 * 1024),
  MALLOC_MMAP_THRESHOLD_: String(4 * 1024 * 1024),
};

/** True when the environment already says something about malloc: then it is left as it is. */
function hasOwnMallocSettings(env: NodeJS.ProcessEnv): boolean {
  for (const k in env) if (k.startsWith('MALLOC_')) return true;
  return /(^|:)glibc\.malloc\./.test(env['GLIBC_TUNABLES'] ?? '');
}

/** The settings to add to a child's environment: none when `env` has malloc settings of its own. */
export function mallocEnvFor(env: NodeJS.ProcessEnv): Record<string, string> {
  return hasOwnMallocSettings(env) ? {} : { ...MALLOC_ENV };
}

/** For the start-up log: the proxy's settings, someone else's, or glibc's defaults. */
export function describeMallocEnv(env: NodeJS.ProcessEnv): 'tuned' | 'custom' | 'glibc defaults' {
  if (!hasOwnMallocSettings(env)) return 'glibc defaults';
  for (const [k, v] of Object.entries(MALLOC_ENV)) if (env[k] !== v) return 'custom';
  return 'tuned';
}

export type MallocReexec = 'exec' | 'own settings' | 'not linux' | 'not glibc' | 'no process.execve';

/** Whether this process should re-execute itself with MALLOC_ENV (pure: the caller supplies the facts). */
export function mallocReexecPlan(env: NodeJS.ProcessEnv, facts: { platform: string; glibc: boolean; execve: boolean }): MallocReexec {
  if (hasOwnMallocSettings(env)) return 'own settings';
  if (facts.platform !== 'linux') return 'not linux';
  if (!facts.execve) return 'no process.execve';
  if (!facts.glibc) return 'not glibc';
  return 'exec';
}

/** True when this Node runs on glibc (musl and others ignore MALLOC_*). */
function onGlibc(): boolean {
  try {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    return typeof header?.glibcVersionRuntime === 'string';
  } catch {
    return false;
  }
}

/**
 * Re-executes this process (same id, same argv and node flags) with MALLOC_ENV added, when the plan
 * says so; returns the reason it did not otherwise. Call before anything is opened or started.
 */
export function reexecWithMallocEnv(env: NodeJS.ProcessEnv = process.env): MallocReexec {
  const execve = (process as unknown as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  const hasExecve = typeof execve === 'function';
  // The glibc check reads a diagnostic report (some ms): only when nothing else rules the re-execution out.
  const glibc = hasExecve && process.platform === 'linux' && !hasOwnMallocSettings(env) && onGlibc();
  const plan = mallocReexecPlan(env, { platform: process.platform, glibc, execve: hasExecve });
  if (plan !== 'exec') return plan;
  execve!.call(process, process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...env, ...MALLOC_ENV });
  return plan; // not reached: execve replaces the process
}
