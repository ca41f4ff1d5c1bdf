/**
 * The one stream-address parser: `rearview nalu`, `record`, `view`,
 * `serve --source` and connect() accept the same forms (port 5000 when
 * missing, IPv6 in brackets) and reject the same ones with the same words.
 * Before, `nalu tcp://cam` was a usage error while `record tcp://cam` meant
 * port 5000.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTcpAddress } from '../../src/cli/byte-source.js';
import { CliError, ExitCode } from '../../src/cli/exit-codes.js';
import { StreamConnection } from '../../src/client/stream-client.js';
import { hasCode } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger.js';
import { TcpRelaySource } from '../../src/sources/tcp-relay-source.js';
import { DEFAULT_STREAM_PORT, isTcpUrl, parseStreamAddress } from '../../src/util/stream-address.js';

const GOOD: Array<[string, { host: string; port: number; url: string }]> = [
  ['tcp://camera.local:5001', { host: 'camera.local', port: 5001, url: 'tcp://camera.local:5001' }],
  ['tcp://camera.local', { host: 'camera.local', port: 5000, url: 'tcp://camera.local:5000' }],
  ['tcp://camera.local:5001/', { host: 'camera.local', port: 5001, url: 'tcp://camera.local:5001' }],
  ['TCP://192.168.9.1', { host: '192.168.9.1', port: 5000, url: 'tcp://192.168.9.1:5000' }],
  ['tcp://[::1]:5001', { host: '::1', port: 5001, url: 'tcp://[::1]:5001' }],
  ['tcp://[fe80::1]', { host: 'fe80::1', port: 5000, url: 'tcp://[fe80::1]:5000' }],
  [' tcp://cam:7 ', { host: 'cam', port: 7, url: 'tcp://cam:7' }],
];

const BAD = [
  'tcp://',
  'tcp://cam:0',
  'tcp://cam:70000',
  'tcp://cam:port',
  'tcp://cam:5000/path',
  'tcp://cam:5000?listen',
  'tcp://cam:5000#x',
  'tcp://user:pw@cam:5000',
  'tcp://-cam:5000',
  'tcp://ca m:5000',
  'http://cam:5000',
  'udp://cam:5000',
];

test('parseStreamAddress: tcp://host[:port], port 5000 by default, IPv6 in brackets', () => {
  assert.equal(DEFAULT_STREAM_PORT, 5000);
  for (const [spec, expected] of GOOD) assert.deepEqual(parseStreamAddress(spec), expected, spec);
  // Without a scheme (connect() and record accept these; nalu takes such text as a file name).
  assert.deepEqual(parseStreamAddress('cam:6000'), { host: 'cam', port: 6000, url: 'tcp://cam:6000' });
  assert.deepEqual(parseStreamAddress('cam'), { host: 'cam', port: 5000, url: 'tcp://cam:5000' });
  assert.deepEqual(parseStreamAddress('[::1]'), { host: '::1', port: 5000, url: 'tcp://[::1]:5000' });
  for (const spec of BAD) {
    assert.throws(
      () => parseStreamAddress(spec),
      (err: Error) =>
        hasCode(err, 'ERR_CONFIG') &&
        err.message ===
          `invalid stream address ${JSON.stringify(spec)}: expected tcp://host[:port] with a port from 1 to 65535 (default 5000)`,
      spec,
    );
  }
  assert.equal(isTcpUrl('tcp://cam'), true);
  assert.equal(isTcpUrl('ride.h264'), false);
  assert.equal(isTcpUrl('-'), false);
});

test('nalu, serve --source tcp:// and connect() all use it: same address, same error words', () => {
  const relay = (spec: string): TcpRelaySource => new TcpRelaySource(spec, { logger: silentLogger });
  for (const [spec, expected] of GOOD) {
    assert.deepEqual(parseTcpAddress(spec), expected, `nalu ${spec}`);
    assert.equal(new StreamConnection(spec).url, expected.url, `connect ${spec}`);
    assert.deepEqual(relay(spec).address, expected, `relay ${spec}`);
    assert.equal(relay(spec).name, expected.url);
  }
  assert.equal(parseTcpAddress('ride.h264'), undefined, 'not a tcp:// spec: a file');
  for (const spec of BAD.filter(isTcpUrl)) {
    const words = `invalid stream address ${JSON.stringify(spec)}`;
    assert.throws(
      () => parseTcpAddress(spec),
      (err: Error) => err instanceof CliError && err.exitCode === ExitCode.USAGE && err.message.startsWith(words),
      `nalu ${spec}`,
    );
    assert.throws(
      () => new StreamConnection(spec),
      (err: Error) => hasCode(err, 'ERR_CONFIG') && err.message.startsWith(words),
      `connect ${spec}`,
    );
    assert.throws(
      () => relay(spec),
      (err: Error) => hasCode(err, 'ERR_CONFIG') && err.message.startsWith(words),
      `relay ${spec}`,
    );
  }
});
