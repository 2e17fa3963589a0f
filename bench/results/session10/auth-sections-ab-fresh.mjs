// A/B of build + serializeEvent + encode, fresh events (as in the proxy), K interleaved access keys (session 10):
//   node --no-allocation-site-pretenuring auth-sections-ab-fresh.mjs <checkout root with dist/> <K>
// Fresh events per iteration (as in the proxy): buildEvent from an observation, then serialise + encode.
const root = process.argv[2]; const K = Number(process.argv[3]);
const { buildEvent } = await import(root + '/dist/src/audit/build-event.js');
const { sampleContext, sampleObservation } = await import(root + '/dist/bench/lib/sample-observation.js');
const { serializeEvent } = await import(root + '/dist/src/audit/serialize.js');
const keys = Array.from({ length: K }, (_, i) => `AKIA${String(i).padStart(16, '0')}`);
const obs = Array.from({ length: 64 }, (_, i) => sampleObservation(i));
let sink = 0;
const step = (i) => { const e = buildEvent(obs[i & 63], sampleContext); e.auth.accessKey = keys[i % K]; return Buffer.from(serializeEvent(e)).length; };
for (let i = 0; i < 200000; i++) sink += step(i);
const N = 600_000, t0 = performance.now();
for (let i = 0; i < N; i++) sink += step(i);
console.log(root.padEnd(12), `K=${K} build+ser+encode ${((performance.now() - t0) * 1e6 / N).toFixed(0)} ns`);
