// V8's allocation-site pretenuring, turned off for `serve` (docs/performance.md, "PUT promotion
// (session 8)"). V8 counts, per object or array literal in the code, how many of its objects survive
// a scavenge; above 85 % it allocates that literal's objects straight in the old generation from
// then on. Every object of a request here dies with the request, but in the first second under load
// (cold code, a young generation still growing) whole request graphs outlive a scavenge, and seven
// per-request literals were tenured for good in a traced run. Each request then put those objects
// in the old generation, where they die at once yet still point at the request's young objects; a
// scavenge takes every old-to-young pointer as a root, so the request graph survived and was
// promoted: 5.2 KB per 4 KiB PUT with the webhook on, a full mark-compact every ~20 scavenges,
// 10-28 µs of CPU per request in paired runs. With pretenuring off the same load promotes ~140 B
// per request and runs no mark-compact. A process-wide V8 setting: the command applies it.
import v8 from 'node:v8';

export const NO_PRETENURING = '--no-allocation-site-pretenuring';

/** Turns V8's allocation-site pretenuring off for this process (before load: decisions already made stay). */
export function disablePretenuring(setFlags: (flags: string) => void = (flags) => v8.setFlagsFromString(flags)): void {
  setFlags(NO_PRETENURING);
}
