// What `audit-webhook show` prints for people: the admin API's GET document as Weka's columns, the
// settings, delivery and acknowledgement state, and (cluster store) the members' table. The other
// verbs' one-line replies use its dash() and fmtBytes().
import { printable, rows, table } from './terminal-output.js';

export function fmtBytes(n: unknown): string {
  if (typeof n !== 'number') return String(n);
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

export const dash = (v: unknown): string => (v === null || v === undefined || v === '' ? '-' : String(v));

const SETTING_KEYS = [
  'index', 'source', 'sourcetype', 'host', 'gzip', 'batchMaxEvents', 'batchMaxBytes', 'batchMaxWaitMs', 'concurrency',
  'requestTimeoutMs', 'caFile', 'clientCertFile', 'clientKeyFile', 'insecureSkipVerify', 'healthCheckIntervalMs',
  'ack', 'ackTimeoutMs', 'ackPollIntervalMs',
];

/** Weka's `s3 cluster audit-webhook show` columns (the token redacted here, on purpose). */
function wekaColumns(doc: Record<string, unknown>): string {
  return table(['ENABLED', 'ENDPOINT', 'AUTH TOKEN'], [[doc['enabled'] === true ? 'True' : 'False', dash(doc['endpoint']), dash(doc['authToken'])]]);
}

/** Cluster mode: the store's state and the members' table. */
function clusterSection(doc: Record<string, unknown>): string[] {
  const c = doc['cluster'] as Record<string, unknown> | undefined;
  if (!c) return [];
  const lines: string[] = [];
  const by = c['changedBy'] as Record<string, unknown> | null;
  const store = c['state'] === 'ok' ? 'ok' : `${String(c['state']).toUpperCase()} since ${dash(c['failingSince'])}: keeping the last known settings (${dash(c['lastError'])})`;
  lines.push('Cluster store:');
  lines.push(rows([
    ['store', `${dash(c['store'])} (${store})`],
    ['revision', `${dash(c['revision'])}${c['changedAt'] ? ` (${dash(c['action'])} at ${dash(c['changedAt'])} through ${by ? dash(by['host']) : '-'})` : ''}`],
    ['this member', dash(c['instance'])],
  ]));
  const members = (doc['members'] ?? []) as Array<Record<string, unknown>>;
  lines.push(`Members (${members.length}):`);
  if (doc['membersError']) lines.push(`  ${printable(String(doc['membersError']))}`);
  lines.push(table(['INSTANCE', 'HOST', 'VERSION', 'STARTED', 'STATE', 'QUEUED', 'SPOOLED', 'DROPPED', 'LAST ERROR'],
    members.map((m) => [dash(m['instance']), dash(m['host']), dash(m['version']), dash(m['startedAt']),
      m['state'] === 'up' ? `up (${dash(m['delivery'])})` : dash(m['state']), dash(m['queued']), dash(m['spooled']), dash(m['dropped']), dash(m['lastError'])]))
    .split('\n').map((l) => `  ${l}`).join('\n'));
  return lines;
}

/** Readable summary of the GET document. */
export function summarize(doc: Record<string, unknown>): string {
  const st = (doc['status'] ?? {}) as Record<string, unknown>;
  const lines: string[] = [wekaColumns(doc), ''];
  if (doc['enabled'] === true) {
    lines.push('Audit webhook: enabled');
    const settings = SETTING_KEYS.filter((k) => doc[k] !== null && doc[k] !== undefined).map((k) => `${k}=${String(doc[k])}`);
    lines.push(rows([
      ['endpoint', dash(doc['endpoint'])],
      ['auth token', dash(doc['authToken'])],
      ['format', dash(doc['format'])],
      ['settings', settings.length ? settings.join(', ') : 'defaults'],
    ]));
  } else {
    lines.push('Audit webhook: disabled');
  }
  const dropped = typeof st['dropped'] === 'number' && st['dropped'] > 0 && st['droppedByReason']
    ? `${String(st['dropped'])} (${Object.entries(st['droppedByReason'] as Record<string, number>).filter(([, n]) => n > 0).map(([r, n]) => `${r} ${n}`).join(', ')})`
    : dash(st['dropped']);
  lines.push('Delivery:');
  lines.push(rows([
    ['state', dash(st['state'])],
    ['queued', dash(st['queued'])],
    ['delivered', dash(st['delivered'])],
    ['dropped', dropped],
    ['spooled', `${dash(st['spooled'])} (${fmtBytes(st['spoolBytes'])})`],
    ['dead-lettered', dash(st['deadLettered'])],
    ['last success', dash(st['lastSuccess'])],
    ['last error', st['lastError'] ? `${String(st['lastError'])}${st['lastFailure'] ? ` (at ${String(st['lastFailure'])})` : ''}` : '-'],
    // serve --audit-required only: requests answered 503 SlowDown for want of room for their event
    ...(typeof st['refusedRequests'] === 'number' && st['refusedRequests'] > 0 ? [['refused requests', `${st['refusedRequests']} (503 SlowDown, --audit-required)`] as [string, string]] : []),
  ]));
  const ack = st['ack'] as Record<string, unknown> | null | undefined;
  if (ack) {
    lines.push('Indexer acknowledgement:');
    lines.push(rows([
      ['state', dash(ack['state'])],
      ['pending', `${dash(ack['pendingBatches'])} batches, ${dash(ack['pendingEvents'])} events (max ${dash(ack['maxPendingBatches'])} batches)`],
      ['oldest pending', typeof ack['oldestPendingAgeMs'] === 'number' ? `${(ack['oldestPendingAgeMs'] / 1000).toFixed(1)} s` : '-'],
      ['timed out', `${dash(ack['timedOut'])} requests sent again (timeout ${dash(ack['timeoutMs'])} ms)`],
      ['acknowledged', `${dash(ack['acknowledgedEvents'])} events (last ${dash(ack['lastAcknowledged'])})`],
      ['last poll error', dash(ack['lastPollError'])],
    ]));
  }
  lines.push(...clusterSection(doc));
  return `${lines.join('\n')}\n`;
}
