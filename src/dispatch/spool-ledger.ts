// What the spool holds, shared by its writer, its reader and its facade: the segments and the counts.
// Every count changes in exactly one of those places; the facade's getters read them from here.

export interface Segment {
  id: number;
  path: string;
  /** Bytes on disk (whole file, torn tail included). */
  fileSize: number;
  /** Offset after the last valid record: reads stop here. */
  readableEnd: number;
  /** Records in [reader position or cursor, readableEnd) not yet handed to a reader. */
  unread: number;
}

export class SpoolLedger {
  /** Segments on disk in id order; the last one may be the writer's active segment. */
  segments: Segment[] = [];
  /** Not yet acknowledged (pending writes included). */
  events = 0;
  /** Not yet handed out by read() (pending writes included). */
  unread = 0;
  diskBytes = 0;
  /** Accepted by append() and not yet written. */
  pendingBytes = 0;
  pendingRecords = 0;
  /** Set when an append was refused for lack of room, until deliveries free space. */
  full = false;
  /** Bad regions the reader skipped in the middle of segments, and their bytes. */
  corruptRegions = 0;
  skippedBytes = 0;
  closed = false;

  constructor(readonly maxBytes: number) {}

  /** Events that will never be read (write failed, corrupt): they leave both counts. */
  forget(count: number): void {
    this.events -= count;
    this.unread -= count;
  }

  /** Clears `full` once there is room again. */
  roomFreed(): void {
    if (this.diskBytes + this.pendingBytes < this.maxBytes) this.full = false;
  }
}
