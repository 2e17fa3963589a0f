import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDeleteObjectsRequest, parseDeleteObjectsResult, deleteEntryId } from '../../src/s3/index.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const KEYS: { key: string; versionId: string | null }[] = [
  { key: 'a&b<c>"d\'', versionId: null },
  { key: '0012', versionId: 'v1' },
  { key: ' spaced key ', versionId: null },
  { key: 'unicodé/😀/日本', versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo' },
  { key: 'true', versionId: null },
];

function requestXml(keys: typeof KEYS, quiet = true): string {
  return '<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n' +
    keys.map((k) => `  <Object>\n    <Key>${esc(k.key)}</Key>${k.versionId ? `<VersionId>${k.versionId}</VersionId>` : ''}\n  </Object>\n`).join('') +
    (quiet ? '  <Quiet>true</Quiet>\n' : '') + '</Delete>';
}

test('request: all entries, entities and unicode decoded, text kept as text', () => {
  assert.deepEqual(parseDeleteObjectsRequest(b(requestXml(KEYS)), false), { objects: KEYS, truncated: false });
});

test('request: a single object is still a list; numeric references decoded', () => {
  assert.deepEqual(parseDeleteObjectsRequest(b('<Delete><Object><Key>only&#x1F600;&#38;</Key></Object></Delete>'), false),
    { objects: [{ key: 'only😀&', versionId: null }], truncated: false });
  assert.deepEqual(parseDeleteObjectsRequest(b('<Delete><Quiet>false</Quiet></Delete>'), false), { objects: [], truncated: false });
  assert.deepEqual(parseDeleteObjectsRequest(b('<Delete><Object><Key/></Object></Delete>'), false),
    { objects: [{ key: '', versionId: null }], truncated: false });
});

test('request truncated: complete <Object> entries recovered by regex, same decoding', () => {
  const xml = requestXml(KEYS, false);
  const full = parseDeleteObjectsRequest(b(xml), true);
  assert.deepEqual(full, { objects: KEYS, truncated: true });
  const ends = [...xml.matchAll(/<\/Object>/g)].map((m) => (m.index ?? 0) + '</Object>'.length);
  for (let cut = 0; cut <= xml.length; cut += 7) {
    const complete = ends.filter((e) => e <= cut).length;
    const r = parseDeleteObjectsRequest(b(xml.slice(0, cut)), true);
    assert.deepEqual(r, { objects: KEYS.slice(0, complete), truncated: true }, `cut at ${cut}`);
  }
});

test('request that is not well-formed is treated as possibly partial', () => {
  const r = parseDeleteObjectsRequest(b('<Delete><Object><Key>a</Key></Object><Object><Key>b'), false);
  assert.deepEqual(r, { objects: [{ key: 'a', versionId: null }], truncated: true });
  assert.deepEqual(parseDeleteObjectsRequest(b(''), false), { objects: [], truncated: false });
  assert.deepEqual(parseDeleteObjectsRequest(b('garbage'), false), { objects: [], truncated: true });
  assert.deepEqual(parseDeleteObjectsRequest(b('<Delete><Object><__proto__>x</__proto__><Key>k</Key></Object></Delete>'), false),
    { objects: [{ key: 'k', versionId: null }], truncated: true });
});

const RESULT = '<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
  `<Deleted><Key>${esc(KEYS[0].key)}</Key></Deleted>` +
  `<Deleted><Key>0012</Key><VersionId>v1</VersionId></Deleted>` +
  `<Deleted><Key> spaced key </Key><DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>dm1</DeleteMarkerVersionId></Deleted>` +
  `<Error><Key>${esc(KEYS[3].key)}</Key><VersionId>${KEYS[3].versionId}</VersionId><Code>AccessDenied</Code><Message>Access Denied</Message></Error>` +
  `<Error><Key>true</Key><Code>InternalError</Code><Message>x</Message></Error>` +
  '</DeleteResult>';

const EXPECTED: [string, { result: 'deleted' | 'error'; errorCode: string | null }][] = [
  [deleteEntryId(KEYS[0].key, null), { result: 'deleted', errorCode: null }],
  [deleteEntryId('0012', 'v1'), { result: 'deleted', errorCode: null }],
  [deleteEntryId(' spaced key ', null), { result: 'deleted', errorCode: null }],
  [deleteEntryId(KEYS[3].key, KEYS[3].versionId), { result: 'error', errorCode: 'AccessDenied' }],
  [deleteEntryId('true', null), { result: 'error', errorCode: 'InternalError' }],
];

test('result: deleted and error entries by key + NUL + versionId', () => {
  assert.deepEqual([...parseDeleteObjectsResult(b(RESULT))], EXPECTED);
  assert.equal(deleteEntryId('k', null), 'k\u0000');
});

test('result: single entries, quiet-mode empty result, error document', () => {
  assert.deepEqual([...parseDeleteObjectsResult(b('<DeleteResult><Deleted><Key>x</Key></Deleted></DeleteResult>'))],
    [['x\u0000', { result: 'deleted', errorCode: null }]]);
  assert.deepEqual([...parseDeleteObjectsResult(b('<DeleteResult/>'))], []);
  assert.deepEqual([...parseDeleteObjectsResult(b('<Error><Code>AccessDenied</Code></Error>'))], []);
  assert.deepEqual([...parseDeleteObjectsResult(b(''))], []);
  assert.deepEqual([...parseDeleteObjectsResult(b('<html>'))], []);
});

test('result truncated: complete entries recovered', () => {
  for (let cut = 0; cut <= RESULT.length; cut += 5) {
    const got = parseDeleteObjectsResult(b(RESULT.slice(0, cut)));
    for (const [id, outcome] of got) {
      const want = EXPECTED.find(([k]) => k === id);
      assert.ok(want !== undefined, `cut ${cut}: unexpected ${JSON.stringify(id)}`);
      assert.deepEqual(outcome, want[1]);
    }
  }
  const cut = RESULT.indexOf('<Error><Key>true');
  const got = parseDeleteObjectsResult(b(RESULT.slice(0, cut + 5)));
  assert.deepEqual([...got], EXPECTED.slice(0, 4));
});
