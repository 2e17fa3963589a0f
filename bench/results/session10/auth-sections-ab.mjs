// A/B of serializeEvent with K interleaved access keys (session 10): node auth-sections-ab.mjs <checkout root with dist/> <K>
// A/B: serializeEvent per event with K interleaved clients (access keys). arg: dist root
const root = process.argv[2];
const { buildEvent } = await import(root + '/dist/src/audit/build-event.js');
const { sampleContext, sampleObservation } = await import(root + '/dist/bench/lib/sample-observation.js');
const { serializeEvent } = await import(root + '/dist/src/audit/serialize.js');
const out = [];
for (const K of [Number(process.argv[3])]) {
  const keys = Array.from({ length: K }, (_, i) => `AKIA${String(i).padStart(16, '0')}`);
  const evs = Array.from({ length: 1024 }, (_, i) => { const e = buildEvent(sampleObservation(i), sampleContext); e.auth.accessKey = keys[i % K]; return e; });
  let sink = 0;
  for (let i = 0; i < 200000; i++) sink += serializeEvent(evs[i & 1023]).length;
  const N = 1_000_000, t0 = performance.now();
  for (let i = 0; i < N; i++) sink += serializeEvent(evs[i & 1023]).length;
  const ser = (performance.now() - t0) * 1e6 / N;
  const t1 = performance.now();
  for (let i = 0; i < N; i++) sink += Buffer.from(serializeEvent(evs[i & 1023])).length;
  const enc = (performance.now() - t1) * 1e6 / N;
  out.push(`K=${K} ser ${ser.toFixed(0)} ns, ser+encode ${enc.toFixed(0)} ns`);
}
console.log(root.padEnd(12), out.join(' | '));
