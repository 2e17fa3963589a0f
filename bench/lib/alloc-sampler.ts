// Preloaded into a proxy under load (`node --import <dist>/bench/lib/alloc-sampler.js`) by
// bench/alloc-profile.ts: V8's sampling heap profiler, keeping the samples of objects the scavenger
// and the mark-compactor already collected, so short-lived garbage (what a request leaves) is
// counted where it was allocated. The first SIGUSR2 starts sampling, the second writes
// <tmpdir>/s3ap-alloc-<pid>.heapprofile and stops. Sizes in the profile are V8's estimates of all
// bytes allocated (samples scaled by their probability), not of live bytes.
import { Session } from 'node:inspector';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const session = new Session();
session.connect();
let sampling = false;
// The runner's options (the proxy is started with a minimal environment): <tmpdir>/s3ap-alloc-options.json,
// { "promotedOnly": true } leaves out what the scavenger collected: what was promoted, then died.
let promotedOnly = false;
try { promotedOnly = (JSON.parse(readFileSync(join(tmpdir(), 's3ap-alloc-options.json'), 'utf8')) as { promotedOnly?: boolean }).promotedOnly === true; } catch { /* defaults */ }
const interval = 2048;

process.on('SIGUSR2', () => {
  if (!sampling) {
    sampling = true;
    session.post('HeapProfiler.startSampling', { samplingInterval: interval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !promotedOnly } as object);
    return;
  }
  sampling = false;
  session.post('HeapProfiler.stopSampling', (err, res) => {
    const out = join(tmpdir(), `s3ap-alloc-${process.pid}.heapprofile`);
    writeFileSync(out + '.tmp', JSON.stringify(err ? { error: String(err) } : res.profile));
    renameSync(out + '.tmp', out);
  });
});
