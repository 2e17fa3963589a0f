// The "tail client attached" row: one live-stream client (GET /api/v1/events/stream on the admin
// listener, docs: the live tail) reading every event while wrk drives the proxy. The stream is built
// by another change: when the admin API answers anything but 200 (404 before it exists), the row is
// left out and the report says why.
import http from 'node:http';

export interface TailClient {
  /** Lines read so far: events, and the `dropped` records' total (events this client lost). */
  readonly events: number;
  readonly dropped: number;
  summary(): string;
  stop(): void;
}

export async function attachTail(adminUrl: string, token: string, timeoutMs = 5000): Promise<{ client: TailClient | null; detail: string }> {
  const u = new URL('/api/v1/events/stream', adminUrl);
  return new Promise((resolve) => {
    let events = 0;
    let dropped = 0;
    let rest = '';
    const req = http.get(u, { headers: { authorization: `Bearer ${token}` }, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve({ client: null, detail: `GET ${u.pathname} answered ${res.statusCode}` });
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) {
          if (l.startsWith('{"event"')) events++;
          else if (l.startsWith('{"dropped"')) {
            try { dropped = (JSON.parse(l) as { dropped: { total: number } }).dropped.total; } catch { /* counted as seen */ }
          }
        }
      });
      res.on('error', () => {});
      req.setTimeout(0);
      resolve({
        client: {
          get events() { return events; },
          get dropped() { return dropped; },
          summary: () => `tail client read ${events} events, dropped ${dropped}`,
          stop: () => { req.destroy(); },
        },
        detail: 'attached',
      });
    });
    req.on('timeout', () => { req.destroy(new Error('timeout')); });
    req.on('error', (err) => resolve({ client: null, detail: `GET ${u.pathname}: ${err.message}` }));
  });
}
