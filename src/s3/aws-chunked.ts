// Incremental decoder of the aws-chunked body framing (`hex-size[;chunk-signature=...]\r\n<data>\r\n`
// ... `0\r\n<trailers>\r\n\r\n`): hands on the payload bytes of each chunk as they stream past, so a
// body observer reads what the backend will read. Lenient: it never throws; after a framing error it
// stops passing data on.
const enum C { Size, Ext, Data, DataEnd, Done }

export class AwsChunkedDecoder {
  private state = C.Size;
  private size = 0;
  private digits = 0;
  private left = 0;

  constructor(private readonly onData: (payload: Buffer) => void) {}

  write(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case C.Size: {
          const b = chunk[i++]!;
          const v = b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x61 && b <= 0x66 ? b - 0x57 : b >= 0x41 && b <= 0x46 ? b - 0x37 : -1;
          if (v >= 0 && this.digits < 13) { this.size = this.size * 16 + v; this.digits++; }
          else if (b === 0x3b /* ; */ || b === 0x0d) this.state = C.Ext;
          else if (b === 0x0a) this.startData();
          else this.state = C.Done; // not aws-chunked framing
          break;
        }
        case C.Ext: {
          const nl = chunk.indexOf(0x0a, i);
          if (nl === -1) return;
          i = nl + 1;
          this.startData();
          break;
        }
        case C.Data: {
          const take = Math.min(this.left, n - i);
          if (take > 0) this.onData(chunk.subarray(i, i + take));
          this.left -= take;
          i += take;
          if (this.left === 0) this.state = C.DataEnd;
          break;
        }
        case C.DataEnd: {
          const nl = chunk.indexOf(0x0a, i);
          if (nl === -1) return;
          i = nl + 1;
          this.state = C.Size;
          this.size = 0;
          this.digits = 0;
          break;
        }
        case C.Done:
          return;
      }
    }
  }

  private startData(): void {
    if (this.digits === 0 || this.size === 0) { this.state = C.Done; return; } // last chunk: trailers follow
    this.left = this.size;
    this.state = C.Data;
  }
}
