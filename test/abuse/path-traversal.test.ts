/**
 * Path traversal: 52 shapes of "a file outside the recordings folder" (dot
 * segments, percent-encoded, double-encoded, backslashes, absolute paths,
 * NUL, overlong UTF-8, Unicode dots and slashes, filter-stripping tricks) on
 * every file route, legacy and v1, and on the web assets. The targets are
 * named like recordings (log0098.mkv in the parent folder, log0099.mkv in a
 * sibling), so only the folder check stands between them and the client.
 * Each shape is sent byte for byte as written (raw socket, no client-side
 * normalisation). Moved here from test/api/api-security.test.ts and widened.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { leaks, SECRET_NAMES, startAbuseDaemon, type AbuseDaemon, type RawExchange } from './abuse-daemon.js';

/** Where a shape points: a secret's file name, and the absolute folders around it. */
interface Target {
  /** Secret in the recordings folder's parent (log0098.mkv or its .jpg). */
  parent: string;
  /** Secret in the sibling folder `outside` (log0099.mkv or its .jpg). */
  outside: string;
  rec: string;
  scratch: string;
}

/** The 52 shapes; each returns the path argument exactly as it goes on the wire. */
const SHAPES: ReadonlyArray<readonly [string, (t: Target) => string]> = [
  // Plain dot segments, relative and absolute.
  ['../name', (t) => `../${t.parent}`],
  ['../outside/name', (t) => `../outside/${t.outside}`],
  ['deep ../ to /etc/passwd', () => '../../../../../../../../etc/passwd'],
  ['rec/../name', (t) => `${t.rec}/../${t.parent}`],
  ['rec/../outside/name', (t) => `${t.rec}/../outside/${t.outside}`],
  ['absolute parent file', (t) => `${t.scratch}/${t.parent}`],
  ['absolute sibling file', (t) => `${t.scratch}/outside/${t.outside}`],
  ['/etc/passwd', () => '/etc/passwd'],
  ['./../name', (t) => `./../${t.parent}`],
  ['rec//../name', (t) => `${t.rec}//../${t.parent}`],
  ['recording/../../name', (t) => `log0001.mkv/../../${t.parent}`],
  ['rec/./../name', (t) => `${t.rec}/./../${t.parent}`],
  // Percent-encoded.
  ['..%2f', (t) => `..%2f${t.parent}`],
  ['..%2F', (t) => `..%2F${t.parent}`],
  ['%2e%2e%2f', (t) => `%2e%2e%2f${t.parent}`],
  ['%2E%2E/', (t) => `%2E%2E/${t.parent}`],
  ['.%2e/', (t) => `.%2e/${t.parent}`],
  ['%2e%2e%2f to /etc/passwd', () => '%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd'],
  ['rec%2f..%2fname', (t) => `${t.rec}%2f..%2f${t.parent}`],
  ['%2fetc%2fpasswd', () => '%2fetc%2fpasswd'],
  ['encoded absolute sibling', (t) => encodeURIComponent(`${t.scratch}/outside/${t.outside}`)],
  // Double and triple encoded.
  ['%252e%252e%252f', (t) => `%252e%252e%252f${t.parent}`],
  ['..%252f', (t) => `..%252f${t.parent}`],
  ['%25252e%25252e%25252f', (t) => `%25252e%25252e%25252f${t.parent}`],
  ['%%32%65%%32%65/', (t) => `%%32%65%%32%65/${t.parent}`],
  // Backslashes.
  ['..\\', (t) => `..\\${t.parent}`],
  ['..%5c', (t) => `..%5c${t.parent}`],
  ['%2e%2e%5C', (t) => `%2e%2e%5C${t.parent}`],
  ['rec\\..\\name', (t) => `${t.rec}\\..\\${t.parent}`],
  ['..\\ to etc\\passwd', () => '..\\..\\..\\..\\..\\..\\etc\\passwd'],
  ['UNC \\\\host\\share', (t) => `\\\\127.0.0.1\\share\\${t.parent}`],
  // Scheme and doubled slashes.
  ['//etc/passwd', () => '//etc/passwd'],
  ['file:///etc/passwd', () => 'file:///etc/passwd'],
  // NUL bytes: encoded, and raw (the HTTP parser's part).
  ['name%00', () => 'log0001.mkv%00'],
  ['name%00.jpg', () => 'log0001.mkv%00.jpg'],
  ['../name%00', (t) => `../${t.parent}%00`],
  ['..%00/name', (t) => `..%00/${t.parent}`],
  ['raw NUL', (t) => `../${t.parent}\0log0001.mkv`],
  // Overlong UTF-8 for "." "/" "\".
  ['%c0%ae%c0%ae/', (t) => `%c0%ae%c0%ae/${t.parent}`],
  ['%c0%ae%c0%ae%c0%af', (t) => `%c0%ae%c0%ae%c0%af${t.parent}`],
  ['%e0%80%ae 3-byte overlong', (t) => `%e0%80%ae%e0%80%ae%e0%80%af${t.parent}`],
  ['..%c1%9c overlong backslash', (t) => `..%c1%9c${t.parent}`],
  ['%c0%2e invalid', (t) => `%c0%2e%c0%2e/${t.parent}`],
  // Unicode look-alikes of "." and "/".
  ['fullwidth dots U+FF0E', (t) => `%ef%bc%8e%ef%bc%8e/${t.parent}`],
  ['one-dot leader U+2024', (t) => `%e2%80%a4%e2%80%a4/${t.parent}`],
  ['fullwidth solidus U+FF0F', (t) => `..%ef%bc%8f${t.parent}`],
  ['division slash U+2215', (t) => `..%e2%88%95${t.parent}`],
  ['%u002e IIS encoding', (t) => `%u002e%u002e/${t.parent}`],
  // Tricks against filters that strip "../" once, and odd dot runs.
  ['....//', (t) => `....//${t.parent}`],
  ['..././', (t) => `..././${t.parent}`],
  ['...', (t) => `.../${t.parent}`],
  ['..;/', (t) => `..;/${t.parent}`],
];

const LEGACY_OK = new Set([400, 404]);
const V1_OK = new Set([400, 404]);

describe('path traversal on every file route', () => {
  let d: AbuseDaemon;
  let mkv: Target;
  let jpg: Target;
  before(async () => {
    d = await startAbuseDaemon();
    mkv = {
      parent: SECRET_NAMES.parentMkv,
      outside: SECRET_NAMES.outsideMkv,
      rec: d.recordingsDir,
      scratch: d.scratch,
    };
    jpg = { ...mkv, parent: SECRET_NAMES.parentJpg, outside: SECRET_NAMES.outsideJpg };
  });
  after(async () => {
    await d?.close();
  });

  /** Sends `request(shape)` for every shape; fails listing each shape that got a wrong status or leaked. */
  async function everyShape(
    route: string,
    ok: Set<number>,
    request: (make: (t: Target) => string) => Promise<RawExchange>,
  ): Promise<void> {
    const failures: string[] = [];
    for (const [name, make] of SHAPES) {
      const r = await request(make);
      if (!ok.has(r.status)) failures.push(`${name}: status ${r.status}`);
      if (leaks(r.raw)) failures.push(`${name}: LEAKED a secret`);
    }
    assert.deepEqual(failures, [], `${route}:\n${failures.join('\n')}`);
  }

  it('has 52 distinct shapes', () => {
    assert.equal(SHAPES.length, 52);
    const t: Target = { parent: 'p', outside: 'o', rec: '/r', scratch: '/s' };
    assert.equal(new Set(SHAPES.map(([, make]) => make(t))).size, 52);
  });

  it('GET /download-video?<shape> and ?<recordings folder>/<shape>', async () => {
    await everyShape('GET /download-video', LEGACY_OK, (make) => d.http('GET', `/download-video?${make(mkv)}`));
    await everyShape('GET /download-video (prefixed)', LEGACY_OK, (make) =>
      d.http('GET', `/download-video?${d.recordingsDir}/${make(mkv)}`),
    );
  });

  it('GET /download-thumbnail?<shape> and ?<recordings folder>/<shape>', async () => {
    await everyShape('GET /download-thumbnail', LEGACY_OK, (make) => d.http('GET', `/download-thumbnail?${make(jpg)}`));
    await everyShape('GET /download-thumbnail (prefixed)', LEGACY_OK, (make) =>
      d.http('GET', `/download-thumbnail?${d.recordingsDir}/${make(jpg)}`),
    );
  });

  it('POST /download-video with the shape as the body (decoded: the body is not a URL)', async () => {
    await everyShape('POST /download-video', LEGACY_OK, (make) =>
      d.http('POST', '/download-video', { body: Buffer.from(safeDecode(make(mkv)), 'utf8') }),
    );
    await everyShape('POST /download-video (raw)', LEGACY_OK, (make) =>
      d.http('POST', '/download-video', { body: Buffer.from(make(mkv), 'latin1') }),
    );
  });

  it('GET and HEAD /api/v1/recordings/<shape> as .mkv, .mp4 and .jpg', async () => {
    await everyShape('GET v1 .mkv', V1_OK, (make) => d.http('GET', `/api/v1/recordings/${make(mkv)}`));
    await everyShape('HEAD v1 .mkv', V1_OK, (make) => d.http('HEAD', `/api/v1/recordings/${make(mkv)}`));
    await everyShape('GET v1 .mp4', V1_OK, (make) =>
      d.http('GET', `/api/v1/recordings/${make(mkv).replace(/\.mkv/g, '.mp4')}`),
    );
    await everyShape('GET v1 .jpg', V1_OK, (make) => d.http('GET', `/api/v1/recordings/${make(jpg)}`));
  });

  it('DELETE /api/v1/recordings/<shape> removes nothing', async () => {
    await everyShape('DELETE v1', V1_OK, (make) => d.http('DELETE', `/api/v1/recordings/${make(mkv)}`));
    d.secretsIntact();
    assert.deepEqual(d.segmentNames(), ['log0001.mkv', 'log0002.mkv']);
  });

  it('GET /assets/<shape> (the web app) answers 400/404, or 501 for a name that does not decode', async () => {
    await everyShape('GET /assets', new Set([400, 404, 501]), (make) => d.http('GET', `/assets/${make(mkv)}`));
  });

  it('the real files are still served, the secrets are untouched and the daemon serves', async () => {
    // GET /download-video converts to MP4: HEAD checks the path without the conversion.
    assert.equal((await d.http('HEAD', `/download-video?${d.recordingsDir}/log0001.mkv`)).status, 200);
    assert.equal((await d.http('POST', '/download-video', { body: `${d.recordingsDir}/log0001.mkv` })).status, 200);
    assert.equal((await d.http('GET', '/api/v1/recordings/log0002.mkv')).status, 200);
    const list = JSON.parse((await d.http('GET', '/list-local-videos')).body.toString()) as Array<{
      path: string;
      date_updated: string;
    }>;
    assert.equal(list[0]?.path, `${d.recordingsDir}/log0001.mkv`);
    assert.equal(
      (await d.http('GET', `/download-thumbnail?${d.recordingsDir}/log0001_${list[0]?.date_updated}.jpg`)).status,
      200,
    );
    assert.equal((await d.http('GET', `/api/v1/recordings/log0001_${list[0]?.date_updated}.jpg`)).status, 200);
    d.secretsIntact();
    await d.assertServing();
  });
});

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
