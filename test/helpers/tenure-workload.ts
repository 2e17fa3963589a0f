// A workload V8 pretenures when it may: objects of one literal that all survive their scavenges,
// allocated until the young generation is at its largest (V8 decides only then). Run in a process
// started with --trace-pretenuring --trace-pretenuring-statistics: each decision prints a
// "pretenuring: AllocationSite(...)" line; with pretenuring off, none does.
//   runTenureWorkload()          from a test's child script;
//   node --import <this file>    runs it in another program (here `serve`) on SIGUSR2, then prints
//                                "tenure workload done".
const kept: unknown[] = [];

function literal(i: number): { i: number; s: string; next: null } {
  return { i, s: 'kept', next: null };
}

export function runTenureWorkload(rounds = 60, perRound = 20_000): number {
  for (let r = 0; r < rounds; r++) {
    const batch: unknown[] = [];
    for (let i = 0; i < perRound; i++) batch.push(literal(i));
    kept.push(batch);
  }
  const n = kept.length;
  kept.length = 0;
  return n;
}

if (process.env['TENURE_WORKLOAD_ON_SIGNAL'] === '1') {
  process.on('SIGUSR2', () => {
    runTenureWorkload();
    process.stdout.write('tenure workload done\n');
  });
}
