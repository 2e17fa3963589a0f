// Where an audit event is born: the proxy fills one RequestObservation per request while the bytes
// flow, and hands it to the RequestObserver exactly once when the exchange is over. The audit side
// (src/audit) turns it into an event; the proxy never waits for it.
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Outcome } from '../audit/event.js';
import type { DeleteObjectsRequestStream, DeleteObjectsResultStream, MemoryReserve } from '../s3/index.js';

/**
 * One process-wide bound on what the audit side holds of bodies while requests are in flight (error
 * body copies, DeleteObjects entries): past it, a capture keeps nothing more and the skip is counted
 * (per event in api.objectsSkipped for DeleteObjects, and in total here).
 */
export class CaptureBudget {
  used = 0;
  /** Reservations refused since start. */
  skipped = 0;
  constructor(readonly limit: number) {}
  tryReserve(bytes: number): boolean {
    if (this.used + bytes > this.limit) { this.skipped++; return false; }
    this.used += bytes;
    return true;
  }
  release(bytes: number): void { this.used = Math.max(0, this.used - bytes); }
}

/** 64 MiB: 1000 requests' error copies at once, or 60 DeleteObjects of 1000 maximal keys. */
export const CAPTURE_BUDGET_BYTES = 64 * 1024 * 1024;
export const captureBudget = new CaptureBudget(CAPTURE_BUDGET_BYTES);

/** One request's share of a CaptureBudget, given back when its event is built. */
export class CaptureAccount implements MemoryReserve {
  held = 0;
  constructor(private readonly budget: CaptureBudget) {}
  reserve(bytes: number): boolean {
    if (!this.budget.tryReserve(bytes)) return false;
    this.held += bytes;
    return true;
  }
  releaseAll(): void { this.budget.release(this.held); this.held = 0; }
}

/** Error bodies and 200-with-<Error> replies are copied up to this size for the audit side. */
export const ERROR_CAPTURE_LIMIT = 64 * 1024;

/** A bounded copy of a body, taken while the bytes stream on unchanged. */
export class BodyCapture {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly limit: number, private readonly account: CaptureAccount | null = null) {}

  add(chunk: Buffer): void {
    if (this.truncated) return;
    if (this.size >= this.limit) { this.truncated = true; return; }
    const room = this.limit - this.size;
    if (chunk.length > room) { this.truncated = true; chunk = chunk.subarray(0, room); }
    if (this.account !== null && !this.account.reserve(chunk.length)) { this.truncated = true; return; }
    // Copy: the stream may reuse its buffer after we return.
    this.chunks.push(Buffer.from(chunk));
    this.size += chunk.length;
  }

  get length(): number { return this.size; }
  toBuffer(): Buffer { return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size); }
}

/** The proxy's answer when it replied itself (backend down, request rejected). */
export interface ProxyReply {
  code: string;
  message: string;
}

/** The parts of a request the audit side reads. An IncomingMessage, or a stand-in for requests
 * Node could not parse (they never become an IncomingMessage but still get an event). */
export interface ObservedRequest {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  socket: Socket;
}

export class RequestObservation {
  /** Proxy-assigned request id. */
  readonly id: string;
  /** Epoch ms at request start. */
  readonly startEpochMs: number;
  /** performance.now() at request start. */
  readonly startMono: number;
  readonly req: ObservedRequest;
  /** Captured at the start: undici detaches req.socket once it has consumed the body. */
  readonly socket: Socket;
  /** The peer's address and port, read when the request starts (a socket closed by then has none). */
  readonly peerAddress: string;
  readonly peerPort: number | null;
  bytesReceived = 0;
  bytesSent = 0;
  /** performance.now() when the response head was written; -1 if never. */
  firstByteMono = -1;
  endMono = -1;
  statusCode = 0;
  /** Backend response headers, raw [name, value, ...] as latin1 strings; null if the backend never answered. */
  responseHeaders: string[] | null = null;
  responseCapture: BodyCapture | null = null;
  /** DeleteObjects: the request's entries and the reply's results, read as the bodies stream. */
  deleteRequest: DeleteObjectsRequestStream | null = null;
  deleteResult: DeleteObjectsResultStream | null = null;
  /** This request's share of the process-wide capture bound; null = unbounded. */
  captureAccount: CaptureAccount | null = null;
  /** The audit side reads error bodies: the response body is copied from the response head on when
   * the status says it may carry one (startResponseCapture), not for every request. */
  captureErrors = false;
  /** Copy the response body for 2xx replies too (a 200 that may hide an <Error>). */
  captureSuccessBody = false;
  outcome: Outcome = 'completed';
  outcomeDetail: string | null = null;
  proxyReply: ProxyReply | null = null;
  /** Backend origin the request was sent to, or null. */
  backend: string | null = null;
  /** Outcome of signature verification when enabled: true/false, else null. */
  signatureVerified: boolean | null = null;
  signatureProblem: string | null = null;
  /** Why the request target or Host could not be read as the backend reads it (a refusal), or null. */
  targetProblem: string | null = null;
  /** Room promised for this request's event by fail-closed admission (admission.ts); -1: none. */
  auditReservation = -1;

  constructor(id: string, req: ObservedRequest) {
    this.id = id;
    this.req = req;
    this.socket = req.socket;
    this.peerAddress = req.socket?.remoteAddress ?? '';
    this.peerPort = req.socket?.remotePort ?? null;
    this.startEpochMs = Date.now();
    this.startMono = performance.now();
  }

  /** At the response head: start copying the body when the audit side reads it for this status. */
  startResponseCapture(statusCode: number): void {
    if (!this.captureErrors || (statusCode < 300 && !this.captureSuccessBody)) return;
    // Captures draw on one process-wide bound (captureBudget), not a fixed size per request.
    this.captureAccount ??= new CaptureAccount(captureBudget);
    this.responseCapture = new BodyCapture(ERROR_CAPTURE_LIMIT, this.captureAccount);
  }

  /** Give back the capture memory (once the event is built). */
  releaseCaptures(): void {
    this.captureAccount?.releaseAll();
    this.responseCapture = null;
    this.deleteRequest = null;
    this.deleteResult = null;
  }

  /** First value of a backend response header (lower-case name), or null. */
  responseHeader(name: string): string | null {
    const h = this.responseHeaders;
    if (!h) return null;
    for (let i = 0; i < h.length; i += 2) if (sameName(h[i]!, name)) return h[i + 1]!;
    return null;
  }
}

/** raw.toLowerCase() === lower for an ASCII `lower`, without making the lower-case copy (3 lookups per event). */
function sameName(raw: string, lower: string): boolean {
  if (raw.length !== lower.length) return false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Consumer of finished observations (the audit event builder). */
export interface RequestObserver {
  /** When false the proxy skips body captures; end() is still called (metrics). */
  readonly capturing: boolean;
  end(obs: RequestObservation): void;
}

export const NULL_OBSERVER: RequestObserver = { capturing: false, end() {} };
