// Minimal Prometheus text exposition: counters (optionally with one label), gauges read on demand,
// and fixed-bucket histograms. Names are prefixed `s3ap_audit_`.

export const METRIC_PREFIX = 's3ap_audit_';

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

interface Renderable {
  render(out: string[]): void;
}

export class Counter implements Renderable {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string, readonly label: string | null = null, initial: readonly string[] = []) {
    if (label === null) this.values.set('', 0);
    for (const l of initial) this.values.set(l, 0);
  }
  inc(by = 1, labelValue = ''): void {
    this.values.set(labelValue, (this.values.get(labelValue) ?? 0) + by);
  }
  get(labelValue = ''): number {
    return this.values.get(labelValue) ?? 0;
  }
  /** Every non-zero value, then sets them to zero (for deltas between processes). */
  take(): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [l, v] of this.values) {
      if (v === 0) continue;
      out.push([l, v]);
      this.values.set(l, 0);
    }
    return out;
  }
  total(): number {
    let t = 0;
    for (const v of this.values.values()) t += v;
    return t;
  }
  entries(): Record<string, number> {
    return Object.fromEntries(this.values);
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const [l, v] of this.values) {
      out.push(this.label === null ? `${this.name} ${num(v)}` : `${this.name}{${this.label}="${escapeLabel(l)}"} ${num(v)}`);
    }
  }
}

export class Gauge implements Renderable {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number | Record<string, number>, readonly label: string | null = null) {}
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`);
    const v = this.read();
    if (typeof v === 'number') out.push(`${this.name} ${num(v)}`);
    else for (const [l, x] of Object.entries(v)) out.push(`${this.name}{${this.label ?? 'label'}="${escapeLabel(l)}"} ${num(x)}`);
  }
}

export class Histogram implements Renderable {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) {
      if (v <= this.buckets[i]) {
        this.counts[i]++;
        break;
      }
    }
  }
  get observations(): number {
    return this.count;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    let cum = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cum += this.counts[i];
      out.push(`${this.name}_bucket{le="${num(this.buckets[i])}"} ${cum}`);
    }
    out.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${num(this.sum)}`, `${this.name}_count ${this.count}`);
  }
}

export class Registry {
  private readonly items: Renderable[] = [];
  add<T extends Renderable>(m: T): T {
    this.items.push(m);
    return m;
  }
  render(): string {
    const out: string[] = [];
    for (const m of this.items) m.render(out);
    return out.join('\n') + '\n';
  }
}
