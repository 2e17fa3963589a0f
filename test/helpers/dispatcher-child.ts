// A separate process that enqueues events into an AuditDispatcher and waits to be killed (the
// crash tests SIGKILL it). Argument: one JSON object
//   { dataDir, endpoint, token, count, fsyncMs, mode: 'burst' | 'stream' }
// 'burst'  enqueues `count` events, waits until every one is written to the spool (the receiver is
//          down), prints `READY <counters json>` and idles.
// 'stream' enqueues events forever in small bursts; after each moment where everything enqueued so
//          far is written to the spool it prints `DURABLE <highest seq>`.
import { AuditDispatcher } from '../../src/dispatch/dispatcher.js';
import { createLogger } from '../../src/log.js';
import { testEvent } from './dispatch-fixtures.js';

interface ChildArgs {
  dataDir: string;
  endpoint: string;
  token: string;
  count: number;
  fsyncMs: number;
  mode: 'burst' | 'stream';
}

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
const d = new AuditDispatcher({
  dataDir: args.dataDir,
  logger: createLogger('warn', process.stderr),
  spoolFsyncIntervalMs: args.fsyncMs,
  retryBaseMs: 20,
  retryMaxMs: 100,
});
await d.start();
await d.setWebhook({ endpoint: args.endpoint, authToken: args.token, batchMaxWaitMs: 5, requestTimeoutMs: 500, concurrency: 1 });

const allWritten = (enqueued: number): boolean => {
  const c = d.counters();
  return c.queued === 0 && c.inFlight === 0 && c.spoolPendingBytes === 0 && c.spoolEvents === enqueued;
};

if (args.mode === 'burst') {
  for (let i = 0; i < args.count; i++) d.enqueue(testEvent(i));
  while (!allWritten(args.count)) await new Promise((r) => setTimeout(r, 5));
  process.stdout.write(`READY ${JSON.stringify(d.counters())}\n`);
  setInterval(() => {}, 60_000);
} else {
  let seq = 0;
  for (;;) {
    for (let b = 0; b < 10; b++) {
      for (let k = 0; k < 50; k++) d.enqueue(testEvent(seq++));
      await new Promise((r) => setTimeout(r, 1));
    }
    while (!allWritten(seq)) await new Promise((r) => setTimeout(r, 2));
    process.stdout.write(`DURABLE ${seq - 1}\n`);
  }
}
