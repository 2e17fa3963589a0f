// An incremental XML scanner for the few S3 documents the proxy reads while they stream
// (DeleteObjects requests and replies). It is fed the body's chunks as they pass, keeps no copy of
// the body, and holds only O(1) state plus the text of the element being captured: a chunk split
// anywhere (inside a tag, an attribute, a comment, a CDATA section, an entity or a UTF-8 sequence)
// gives the same result as one chunk. Handles comments, CDATA, processing instructions, DOCTYPE
// declarations (skipped), attributes (quoted '>' included), self-closing tags, namespace prefixes
// (dropped), entities (&amp; &lt; &#..; &#x..;) and XML line-end normalisation. It does not
// validate: the backend decides whether a document is well-formed, the audit reads what it sees.
import { decodeXmlText } from './error-body.js';

/** What the scanner reports: element starts and ends, with the text of elements asked for. */
export interface XmlStreamSink {
  /** An element opened at `depth` (the document element is depth 1). Return true to capture its text. */
  open(depth: number, name: string): boolean;
  /** The element at `depth` closed; `text` is its decoded text when open() asked for it, else null. */
  close(depth: number, name: string, text: string | null): void;
}

const enum S {
  Text, Lt, Bang, Comment, Cdata, Decl, Pi, StartName, Attrs, EndName,
}

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const DASH = 0x2d;
const RBRACKET = 0x5d;
const QMARK = 0x3f;

const CDATA_OPEN = '[CDATA[';
const MAX_NAME = 128;
/** Longest captured text kept (bytes of markup): S3 keys are at most 1024 bytes, entities included ~10x. */
export const MAX_CAPTURED_TEXT = 16 * 1024;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

function localName(name: string): string {
  const colon = name.indexOf(':');
  return colon === -1 ? name : name.slice(colon + 1);
}

export class XmlStreamScanner {
  private state = S.Text;
  private depth = 0;
  private name = '';
  private nameBytes = 0;
  private bang = '';
  private dashes = 0;
  private brackets = 0;
  private quote = 0;
  private lastNonSpace = 0;
  private declBrackets = 0;
  private piQ = false;
  /** Depth of the element whose text is being captured; 0 when none. */
  private capDepth = 0;
  private capName = '';
  /** Decoded text parts of the captured element, and the raw bytes of the current text or CDATA run. */
  private parts: string[] = [];
  private run: Buffer[] = [];
  private runIsCdata = false;
  private capBytes = 0;
  /** Bytes of markup scanned in total. */
  scanned = 0;

  constructor(private readonly sink: XmlStreamSink) {}

  get elementDepth(): number { return this.depth; }

  write(chunk: Buffer): void {
    const n = chunk.length;
    this.scanned += n;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case S.Text: {
          const lt = chunk.indexOf(LT, i);
          const end = lt === -1 ? n : lt;
          if (this.capDepth !== 0 && end > i) this.capture(chunk, i, end, false);
          if (lt === -1) return;
          i = lt + 1;
          this.state = S.Lt;
          break;
        }
        case S.Lt: {
          const b = chunk[i]!;
          if (b === 0x21 /* ! */) { this.state = S.Bang; this.bang = ''; i++; }
          else if (b === QMARK) { this.state = S.Pi; this.piQ = false; i++; }
          else if (b === SLASH) { this.state = S.EndName; this.name = ''; this.nameBytes = 0; i++; }
          else { this.state = S.StartName; this.name = ''; this.nameBytes = 0; }
          break;
        }
        case S.Bang: {
          const b = chunk[i++]!;
          this.bang += String.fromCharCode(b);
          if (this.bang === '--') { this.state = S.Comment; this.dashes = 0; }
          else if (this.bang === CDATA_OPEN) { this.state = S.Cdata; this.brackets = 0; }
          else if (!('--'.startsWith(this.bang) || CDATA_OPEN.startsWith(this.bang))) {
            // <!DOCTYPE ...> or another declaration: skipped to its '>' (internal subset brackets counted).
            this.state = S.Decl;
            this.declBrackets = 0;
            this.quote = 0;
            i--;
          }
          break;
        }
        case S.Comment: {
          if (this.dashes === 0) {
            const d = chunk.indexOf(DASH, i);
            if (d === -1) return;
            i = d;
          }
          const b = chunk[i++]!;
          if (b === DASH) this.dashes++;
          else if (b === GT && this.dashes >= 2) this.state = S.Text;
          else this.dashes = 0;
          break;
        }
        case S.Cdata: {
          if (this.brackets === 0) {
            const r = chunk.indexOf(RBRACKET, i);
            const end = r === -1 ? n : r;
            if (this.capDepth !== 0 && end > i) this.capture(chunk, i, end, true);
            if (r === -1) return;
            i = r;
          }
          const b = chunk[i++]!;
          if (b === RBRACKET) this.brackets++;
          else if (b === GT && this.brackets >= 2) {
            if (this.capDepth !== 0 && this.brackets > 2) this.captureText(']'.repeat(this.brackets - 2));
            this.brackets = 0;
            this.state = S.Text;
          } else {
            // ']' not closing the section: it was text; the byte is looked at again as text.
            if (this.capDepth !== 0) this.captureText(']'.repeat(this.brackets));
            this.brackets = 0;
            i--;
          }
          break;
        }
        case S.Decl: {
          const b = chunk[i++]!;
          if (this.quote !== 0) { if (b === this.quote) this.quote = 0; }
          else if (b === 0x22 || b === 0x27) this.quote = b;
          else if (b === 0x5b) this.declBrackets++;
          else if (b === RBRACKET) this.declBrackets--;
          else if (b === GT && this.declBrackets <= 0) this.state = S.Text;
          break;
        }
        case S.Pi: {
          const b = chunk[i++]!;
          if (b === GT && this.piQ) this.state = S.Text;
          else this.piQ = b === QMARK;
          break;
        }
        case S.StartName: {
          const b = chunk[i]!;
          if (isSpace(b) || b === SLASH || b === GT) {
            this.state = S.Attrs;
            this.quote = 0;
            this.lastNonSpace = 0;
            break;
          }
          this.addNameByte(b);
          i++;
          break;
        }
        case S.Attrs: {
          const b = chunk[i++]!;
          if (this.quote !== 0) { if (b === this.quote) this.quote = 0; this.lastNonSpace = b; }
          else if (b === 0x22 || b === 0x27) { this.quote = b; this.lastNonSpace = b; }
          else if (b === GT) { this.state = S.Text; this.startTag(this.lastNonSpace === SLASH); }
          else if (!isSpace(b)) this.lastNonSpace = b;
          break;
        }
        case S.EndName: {
          const b = chunk[i++]!;
          if (b === GT) { this.state = S.Text; this.endTag(); }
          else if (!isSpace(b)) this.addNameByte(b);
          break;
        }
      }
    }
  }

  private addNameByte(b: number): void {
    if (this.nameBytes++ < MAX_NAME) this.name += String.fromCharCode(b);
  }

  private startTag(selfClosing: boolean): void {
    const name = localName(this.name);
    const depth = ++this.depth;
    const capture = this.capDepth === 0 && this.sink.open(depth, name);
    if (selfClosing) {
      this.depth--;
      this.sink.close(depth, name, capture ? '' : null);
      return;
    }
    if (capture) {
      this.capDepth = depth;
      this.capName = name;
      this.parts = [];
      this.run = [];
      this.capBytes = 0;
    }
  }

  private endTag(): void {
    const depth = this.depth;
    if (depth === 0) return; // a stray end tag: nothing open
    this.depth--;
    let text: string | null = null;
    let name = localName(this.name);
    if (this.capDepth === depth) {
      this.flushRun();
      text = this.parts.join('');
      name = this.capName;
      this.capDepth = 0;
      this.parts = [];
    } else if (this.capDepth > depth) {
      this.capDepth = 0; // cannot happen with a well-formed document
      this.parts = [];
      this.run = [];
    }
    this.sink.close(depth, name, text);
  }

  /** Raw bytes [start, end) of text (entities to decode) or CDATA (literal) inside the captured element. */
  private capture(chunk: Buffer, start: number, end: number, cdata: boolean): void {
    if (this.runIsCdata !== cdata) this.flushRun();
    this.runIsCdata = cdata;
    const room = MAX_CAPTURED_TEXT - this.capBytes;
    if (room <= 0) return;
    const len = Math.min(end - start, room);
    // Copy: the stream may reuse the chunk's memory after we return.
    this.run.push(Buffer.from(chunk.subarray(start, start + len)));
    this.capBytes += len;
  }

  private captureText(s: string): void {
    const bytes = Buffer.from(s, 'latin1');
    this.capture(bytes, 0, bytes.length, true);
  }

  private flushRun(): void {
    if (this.run.length === 0) return;
    const raw = (this.run.length === 1 ? this.run[0]! : Buffer.concat(this.run)).toString('utf8');
    // XML line-end normalisation, then (outside CDATA) entity references.
    const norm = raw.includes('\r') ? raw.replace(/\r\n?/g, '\n') : raw;
    this.parts.push(this.runIsCdata ? norm : decodeXmlText(norm));
    this.run = [];
  }
}
