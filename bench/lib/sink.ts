// The HEC receiver process (bench/hec-sink.ts) and its control API.
import { join } from 'node:path';
import { spawnReady, type Child } from './proc.js';

export interface Sink { url: string; control: string; pid: number; child: Child; stop(): Promise<void> }
export interface SinkStats { events: number; requests: number; bodyWireBytes: number; bodyBytes: number; socketBytesRead: number; invalid: number; rejected: number; hanging: number }

export async function startSink(node: string, dist: string, token: string): Promise<Sink> {
  const r = await spawnReady('hec-sink', node, [join(dist, 'bench', 'hec-sink.js'), token], (l) => (l.startsWith('READY ') ? (JSON.parse(l.slice(6)) as { url: string; control: string }) : undefined));
  return { ...r.value, pid: r.child.pid, child: r.child, stop: () => r.child.stop() };
}

export async function sinkStats(s: Sink): Promise<SinkStats> {
  return (await (await fetch(`${s.control}/stats`)).json()) as SinkStats;
}

export async function sinkMode(s: Sink, m: 'ok' | 'down' | 'hang'): Promise<void> {
  const r = await fetch(`${s.control}/mode?m=${m}`, { method: 'POST' });
  if (!r.ok) throw new Error(`receiver mode ${m}: HTTP ${r.status}`);
}
