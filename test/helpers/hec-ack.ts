// Indexer acknowledgement for the test HEC receiver (hec-receiver.ts), as Splunk does it: with ack
// on, every accepted request on the event or raw endpoints answers {"text":"Success","code":0,
// "ackId":N}, N counting from 0 per channel; POST /services/collector/ack with the same channel and
// {"acks":[ids]} answers {"acks":{"N":true|false}}; an id reported true is forgotten (a second query
// says false, as Splunk does once it has answered).
//
// Modes: 'off' (no ackId, the ack endpoint answers 400 code 14 "ACK is disabled"), 'on' (indexed at
// once), 'withhold' (accepted, never acknowledged until the mode changes; then everything withheld
// counts as indexed), 'error' (the ack endpoint answers 503 code 9; requests still get ackIds).
export type AckMode = 'off' | 'on' | 'withhold' | 'error';

export interface AckReply {
  status: number;
  body: Record<string, unknown>;
}

export class HecAckState {
  mode: AckMode = 'off';
  /** Next ackId, per channel. */
  private readonly next = new Map<string, number>();
  /** Ids issued and not yet reported true, per channel: id -> indexed. */
  private readonly open = new Map<string, Map<number, boolean>>();
  /** Ack requests answered, and ids reported true, in total. */
  polls = 0;
  acknowledged = 0;

  get on(): boolean {
    return this.mode !== 'off';
  }

  setMode(m: AckMode): void {
    this.mode = m;
    if (m === 'on' || m === 'off') for (const ids of this.open.values()) for (const id of ids.keys()) ids.set(id, true);
  }

  /** An accepted request on `channel`: its ackId (null when ack is off). */
  issue(channel: string): number | null {
    if (!this.on) return null;
    const id = this.next.get(channel) ?? 0;
    this.next.set(channel, id + 1);
    let ids = this.open.get(channel);
    if (!ids) this.open.set(channel, (ids = new Map()));
    ids.set(id, this.mode === 'on');
    return id;
  }

  /** Ids issued on `channel` and not yet reported indexed. */
  waiting(channel?: string): number {
    let n = 0;
    for (const [c, ids] of this.open) if (channel === undefined || c === channel) n += ids.size;
    return n;
  }

  /** POST /services/collector/ack. */
  answer(channel: string | null, body: string): AckReply {
    if (this.mode === 'off') return { status: 400, body: { text: 'ACK is disabled', code: 14 } };
    if (!channel) return { status: 400, body: { text: 'Data channel is missing', code: 10 } };
    if (this.mode === 'error') return { status: 503, body: { text: 'Server is busy', code: 9 } };
    let req: unknown;
    try {
      req = JSON.parse(body);
    } catch {
      return { status: 400, body: { text: 'Invalid data format', code: 6 } };
    }
    const list = (req as { acks?: unknown } | null)?.acks;
    if (!Array.isArray(list) || !list.every((x) => Number.isSafeInteger(x))) return { status: 400, body: { text: 'Invalid data format', code: 6 } };
    this.polls++;
    const ids = this.open.get(channel);
    const acks: Record<string, boolean> = {};
    for (const id of list as number[]) {
      const indexed = ids?.get(id) === true;
      acks[String(id)] = indexed;
      if (indexed) {
        ids!.delete(id);
        this.acknowledged++;
      }
    }
    return { status: 200, body: { acks } };
  }
}
