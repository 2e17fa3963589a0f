import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AwsChunkedDecoder, deleteEntryId, deleteObjectsOutcomes, DeleteObjectsRequestStream, DeleteObjectsResultStream,
  parseDeleteObjectsRequest, parseDeleteObjectsResult, type DeleteObjectsKey,
} from '../../src/s3/index.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const KEYS: DeleteObjectsKey[] = [
  { key: 'a&b<c>"d\'', versionId: null },
  { key: '0012', versionId: 'v1' },
  { key: ' spaced key ', versionId: null },
  { key: 'unicodé/😀/日本', versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo' },
  { key: 'true', versionId: null },
];

function requestXml(keys: DeleteObjectsKey[], quiet = true): string {
  return '<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n' +
    keys.map((k) => `  <Object>\n    <Key>${esc(k.key)}</Key>${k.versionId ? `<VersionId>${k.versionId}</VersionId>` : ''}\n  </Object>\n`).join('') +
    (quiet ? '  <Quiet>true</Quiet>\n' : '') + '</Delete>';
}

/** Feeds `buf` to a fresh stream in the given chunk sizes. */
function feedRequest(buf: Buffer, cuts: number[]): DeleteObjectsRequestStream {
  const s = new DeleteObjectsRequestStream();
  let at = 0;
  for (const c of [...cuts, buf.length]) { s.write(buf.subarray(at, c)); at = c; }
  return s;
}

test('request: all entries, entities and unicode decoded, text kept as text, Quiet read', () => {
  assert.deepEqual(parseDeleteObjectsRequest(b(requestXml(KEYS))), { objects: KEYS, truncated: false, quiet: true, complete: true });
  assert.equal(parseDeleteObjectsRequest(b(requestXml(KEYS, false))).quiet, false);
});

test('request: a single object; numeric references; empty key; no objects', () => {
  assert.deepEqual(parseDeleteObjectsRequest(b('<Delete><Object><Key>only&#x1F600;&#38;</Key></Object></Delete>')).objects,
    [{ key: 'only😀&', versionId: null }]);
  assert.deepEqual(parseDeleteObjectsRequest(b('<Delete><Quiet>false</Quiet></Delete>')).objects, []);
  assert.deepEqual(parseDeleteObjectsRequest(b('<Delete><Object><Key/></Object></Delete>')).objects, [{ key: '', versionId: null }]);
  assert.deepEqual(parseDeleteObjectsRequest(b('')).objects, []);
  assert.deepEqual(parseDeleteObjectsRequest(b('garbage')).objects, []);
  assert.deepEqual(parseDeleteObjectsRequest(b('<Delete><Object><__proto__>x</__proto__><Key>k</Key></Object></Delete>')).objects,
    [{ key: 'k', versionId: null }]);
});

// Everything the scanner must get right, in one document.
const TRICKY = '\uFEFF<?xml version="1.0"?>\r\n<!DOCTYPE Delete [ <!ENTITY x "y>"> ]>\n<!-- <Delete><Object><Key>fake-in-comment</Key></Object></Delete> -->\n' +
  '<s3:Delete xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/" data-x="a > b" data-y=\'<Object>\'>' +
  '<s3:Object><s3:Key>plain</s3:Key></s3:Object>' +
  '<Object ><Key><![CDATA[cdata <Key>&amp; ]] ]]]></Key></Object>' +
  '<Object><Key>mix<!-- c -->ed&amp;<![CDATA[&lt;]]>&#x1F600;&#38;&lt;</Key><VersionId>v&#49;</VersionId></Object>' +
  '<Object><Key>line\r\nend&#13;</Key></Object>' +
  '<Object><!-- <Key>not</Key> --><Key>after-comment</Key></Object>' +
  '<Object><Key>dé😀</Key ></Object>' +
  '<?pi <Object><Key>in-pi</Key></Object> ?>' +
  '<Object><VersionId>no-key</VersionId></Object>' +
  '<Quiet>\n true \n</Quiet></s3:Delete >';
const TRICKY_KEYS: DeleteObjectsKey[] = [
  { key: 'plain', versionId: null },
  { key: 'cdata <Key>&amp; ]] ]', versionId: null },
  { key: 'mixed&&lt;😀&<', versionId: 'v1' },
  { key: 'line\nend\r', versionId: null },
  { key: 'after-comment', versionId: null },
  { key: 'dé😀', versionId: null },
];

test('request: comments, CDATA, entities, PIs, DOCTYPE, attributes with > and prefixes, CRLF', () => {
  const r = parseDeleteObjectsRequest(b(TRICKY));
  assert.deepEqual(r, { objects: TRICKY_KEYS, truncated: false, quiet: true, complete: true });
});

test('request: split at every byte boundary (and fed one byte at a time) gives the same result', () => {
  const buf = b(TRICKY);
  for (let cut = 0; cut <= buf.length; cut++) {
    const s = feedRequest(buf, [cut]);
    assert.deepEqual(s.objects, TRICKY_KEYS, `cut at ${cut}`);
    assert.equal(s.quiet, true);
    assert.equal(s.complete, true);
  }
  for (let cut = 0; cut + 7 <= buf.length; cut += 3) {
    assert.deepEqual(feedRequest(buf, [cut, cut + 2, cut + 7]).objects, TRICKY_KEYS, `cuts at ${cut}`);
  }
  const bytewise = feedRequest(buf, Array.from({ length: buf.length }, (_, i) => i));
  assert.deepEqual(bytewise.objects, TRICKY_KEYS);
  const plain = b(requestXml(KEYS));
  for (let cut = 0; cut <= plain.length; cut++) assert.deepEqual(feedRequest(plain, [cut]).objects, KEYS, `plain cut at ${cut}`);
});

test('request: a cut body keeps the complete entries and is not complete', () => {
  const xml = requestXml(KEYS, false);
  const ends = [...xml.matchAll(/<\/Object>/g)].map((m) => Buffer.byteLength(xml.slice(0, (m.index ?? 0) + '</Object>'.length)));
  const buf = b(xml);
  for (let cut = 0; cut < buf.length; cut += 7) {
    const r = parseDeleteObjectsRequest(buf.subarray(0, cut));
    assert.deepEqual(r.objects, KEYS.slice(0, ends.filter((e) => e <= cut).length), `cut at ${cut}`);
    assert.equal(r.complete, false);
  }
});

test('request: 1000 keys of 1 KiB, in 64 KiB chunks; a 1001st makes the list truncated (S3 refuses it)', () => {
  const keys = Array.from({ length: 1000 }, (_, i) => ({ key: `${String(i).padStart(4, '0')}/` + 'k'.repeat(1019), versionId: null }));
  const buf = b(requestXml(keys));
  assert.ok(buf.length > 1024 * 1024);
  const s = feedRequest(buf, Array.from({ length: Math.floor(buf.length / 65536) }, (_, i) => (i + 1) * 65536));
  assert.equal(s.objects.length, 1000);
  assert.deepEqual(s.objects, keys);
  assert.equal(s.truncated, false);
  const over = parseDeleteObjectsRequest(b(requestXml([...keys, { key: 'one-more', versionId: null }])));
  assert.equal(over.objects.length, 1000);
  assert.equal(over.truncated, true);
});

test('request: keys after more than 1 MiB of padding (comment, whitespace, attribute, ignored elements) are all read', () => {
  const pad = 'x'.repeat(1100 * 1024);
  const docs = [
    `<Delete><!--${pad}--><Object><Key>a</Key></Object><Object><Key>b</Key></Object></Delete>`,
    `<Delete>${' '.repeat(pad.length)}<Object><Key>a</Key></Object><Object><Key>b</Key></Object></Delete>`,
    `<Delete pad="${pad}"><Object><Key>a</Key></Object><Object><Key>b</Key></Object></Delete>`,
    `<Delete><Pad>${pad}</Pad><Object><Key>a</Key></Object><Object><Key>b</Key></Object></Delete>`,
    `<Delete><Object><Key>a</Key></Object><!--${pad}--><Object><Key>b</Key></Object></Delete>`,
  ];
  for (const d of docs) {
    const buf = b(d);
    const s = feedRequest(buf, Array.from({ length: Math.floor(buf.length / 16384) }, (_, i) => (i + 1) * 16384));
    assert.deepEqual(s.objects, [{ key: 'a', versionId: null }, { key: 'b', versionId: null }], d.slice(0, 20));
    assert.equal(s.truncated, false);
  }
});

test('request: aws-chunked framing is removed before reading (a tag split by the framing is still read)', () => {
  const xml = b('<Delete><Object><Key>chunked-key</Key></Object><Object><Key>second</Key></Object></Delete>');
  const parts = [xml.subarray(0, 20), xml.subarray(20, 23), xml.subarray(23)];
  const framed = Buffer.concat([
    ...parts.flatMap((p) => [b(`${p.length.toString(16)};chunk-signature=${'0'.repeat(64)}\r\n`), p, b('\r\n')]),
    b(`0;chunk-signature=${'0'.repeat(64)}\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n`),
  ]);
  for (let cut = 0; cut <= framed.length; cut++) {
    const s = new DeleteObjectsRequestStream({ awsChunked: true });
    s.write(framed.subarray(0, cut));
    s.write(framed.subarray(cut));
    assert.deepEqual(s.objects.map((o) => o.key), ['chunked-key', 'second'], `cut at ${cut}`);
  }
  const seen: Buffer[] = [];
  const d = new AwsChunkedDecoder((p) => seen.push(Buffer.from(p)));
  d.write(b('3\r\nabc\r\n0\r\n\r\n'));
  assert.equal(Buffer.concat(seen).toString(), 'abc');
});

test('request: entries past the memory bound are skipped and counted', () => {
  let left = 3;
  const s = new DeleteObjectsRequestStream({ memory: { reserve: () => left-- > 0 } });
  s.write(b(requestXml(KEYS)));
  assert.equal(s.objects.length, 3);
  assert.equal(s.skipped, 2);
  assert.equal(s.count, 5);
});

const RESULT = '<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
  `<Deleted><Key>${esc(KEYS[0]!.key)}</Key></Deleted>` +
  `<Deleted><Key>0012</Key><VersionId>v1</VersionId></Deleted>` +
  `<Deleted><Key> spaced key </Key><DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>dm1</DeleteMarkerVersionId></Deleted>` +
  `<Error><Key>${esc(KEYS[3]!.key)}</Key><VersionId>${KEYS[3]!.versionId}</VersionId><Code>AccessDenied</Code><Message>Access Denied</Message></Error>` +
  `<!-- <Deleted><Key>true</Key></Deleted> --><Error><Key>true</Key><Code> InternalError </Code><Message>x</Message></Error>` +
  '</DeleteResult>';

const EXPECTED: [string, { result: 'deleted' | 'error'; errorCode: string | null }][] = [
  [deleteEntryId(KEYS[0]!.key, null), { result: 'deleted', errorCode: null }],
  [deleteEntryId('0012', 'v1'), { result: 'deleted', errorCode: null }],
  [deleteEntryId(' spaced key ', null), { result: 'deleted', errorCode: null }],
  [deleteEntryId(KEYS[3]!.key, KEYS[3]!.versionId), { result: 'error', errorCode: 'AccessDenied' }],
  [deleteEntryId('true', null), { result: 'error', errorCode: 'InternalError' }],
];

test('result: deleted and error entries by key + NUL + versionId, at every split', () => {
  assert.deepEqual([...parseDeleteObjectsResult(b(RESULT))], EXPECTED);
  assert.equal(deleteEntryId('k', null), 'k\u0000');
  const buf = b(RESULT);
  for (let cut = 0; cut <= buf.length; cut++) {
    const s = new DeleteObjectsResultStream();
    s.write(buf.subarray(0, cut));
    s.write(buf.subarray(cut));
    assert.deepEqual([...s.results], EXPECTED, `cut at ${cut}`);
    assert.equal(s.complete, true);
  }
});

test('result: single entries, quiet-mode empty result, error document', () => {
  assert.deepEqual([...parseDeleteObjectsResult(b('<DeleteResult><Deleted><Key>x</Key></Deleted></DeleteResult>'))],
    [['x\u0000', { result: 'deleted', errorCode: null }]]);
  assert.deepEqual([...parseDeleteObjectsResult(b('<DeleteResult/>'))], []);
  assert.deepEqual([...parseDeleteObjectsResult(b('<Error><Code>AccessDenied</Code></Error>'))], []);
  assert.deepEqual([...parseDeleteObjectsResult(b(''))], []);
  assert.deepEqual([...parseDeleteObjectsResult(b('<html>'))], []);
});

function outcomes(reqXml: string, status: number, resXml: string | null, code: string | null = null) {
  const asked = new DeleteObjectsRequestStream();
  asked.write(b(reqXml));
  let reply: DeleteObjectsResultStream | null = null;
  if (resXml !== null) { reply = new DeleteObjectsResultStream(); reply.write(b(resXml)); }
  return deleteObjectsOutcomes(asked, reply, status, code).map((o) => [o.key, o.result, o.errorCode]);
}

test('outcomes: quiet mode (unlisted = deleted), verbose mode, per-key errors, refused request, cut reply', () => {
  const quiet = requestXml([{ key: 'a', versionId: null }, { key: 'b', versionId: null }, { key: 'c', versionId: 'v9' }], true);
  const verbose = requestXml([{ key: 'a', versionId: null }, { key: 'b', versionId: null }], false);
  // Quiet: only the error is listed; the others were deleted.
  assert.deepEqual(outcomes(quiet, 200, '<DeleteResult><Error><Key>b</Key><Code>AccessDenied</Code></Error></DeleteResult>'),
    [['a', 'deleted', null], ['b', 'error', 'AccessDenied'], ['c', 'deleted', null]]);
  assert.deepEqual(outcomes(quiet, 200, '<DeleteResult/>'), [['a', 'deleted', null], ['b', 'deleted', null], ['c', 'deleted', null]]);
  // Quiet, but the reply was cut: unlisted entries are unknown.
  assert.deepEqual(outcomes(quiet, 200, '<DeleteResult><Error><Key>b</Key><Code>AccessDenied</Code></Error>'),
    [['a', 'unknown', null], ['b', 'error', 'AccessDenied'], ['c', 'unknown', null]]);
  // Verbose: as listed; a key the reply does not mention is unknown.
  assert.deepEqual(outcomes(verbose, 200, '<DeleteResult><Deleted><Key>a</Key></Deleted></DeleteResult>'),
    [['a', 'deleted', null], ['b', 'unknown', null]]);
  // A versioned entry answered without its version id still matches.
  assert.deepEqual(outcomes(quiet, 200, '<DeleteResult><Error><Key>c</Key><Code>NoSuchVersion</Code></Error></DeleteResult>'),
    [['a', 'deleted', null], ['b', 'deleted', null], ['c', 'error', 'NoSuchVersion']]);
  // Refused as a whole: nothing deleted.
  assert.deepEqual(outcomes(verbose, 400, null, 'MalformedXML'), [['a', 'error', 'MalformedXML'], ['b', 'error', 'MalformedXML']]);
  assert.deepEqual(outcomes(verbose, 403, null, 'AccessDenied'), [['a', 'error', 'AccessDenied'], ['b', 'error', 'AccessDenied']]);
  // No answer / server error: unknown.
  assert.deepEqual(outcomes(verbose, 503, null, 'ServiceUnavailable'), [['a', 'unknown', null], ['b', 'unknown', null]]);
  assert.deepEqual(outcomes(verbose, 0, null), [['a', 'unknown', null], ['b', 'unknown', null]]);
});
