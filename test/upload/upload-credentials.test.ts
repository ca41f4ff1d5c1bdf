/**
 * The files uploads read as hostile input: the credentials file (AWS
 * shared-credentials format, 0600 only, profiles, no links, no FIFOs, no
 * oversize, no control characters; values never in an error) and the CA
 * file of `uploadCa` (certificates only, each one parsed).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { readUploadCa } from '../../src/upload/upload-ca.js';
import { loadUploadCredentials } from '../../src/upload/upload-credentials.js';
import { makeTestCertificates } from '../support/tls-front.js';

const SECRET = 'wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY';

function file(text: string, mode = 0o600): string {
  const path = join(mkdtempSync(join(tmpdir(), 'rearview-creds-')), 'credentials');
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

/** Loads and expects a ConfigError whose message matches `re` and never shows the secret. */
function refused(path: string, re: RegExp, profile?: string): void {
  assert.throws(
    () => loadUploadCredentials(path, {}, profile),
    (err: Error) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, re);
      assert.ok(!err.message.includes(SECRET), 'the secret is never in a message');
      assert.ok(!err.message.includes('AKIDFILE'), 'nor the key id');
      return true;
    },
  );
}

describe('upload credentials file', () => {
  const plain = `aws_access_key_id = AKIDFILE\naws_secret_access_key = ${SECRET}\n`;

  it('reads a 0600 file (one profile, no section) and refuses it at 0644, 0640 and 0604 with the chmod to run', () => {
    const path = file(plain);
    const { credentials, source } = loadUploadCredentials(path, { AWS_ACCESS_KEY_ID: 'ENV' });
    assert.equal(source, 'file');
    assert.deepEqual(credentials, { accessKeyId: 'AKIDFILE', secretAccessKey: SECRET, sessionToken: undefined });
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(path, mode);
      refused(path, new RegExp(`open to other users \\(mode 0${mode.toString(8)}\\); run chmod 600`));
    }
  });

  it('picks the profile asked for ([name] and [profile name]), default first; a missing profile is named', () => {
    const path = file(
      [
        '# rearview fleet keys',
        'aws_access_key_id = OUTSIDE_ANY_PROFILE',
        '[other]',
        'aws_access_key_id = AKIDOTHER',
        `aws_secret_access_key = ${SECRET}`,
        '',
        '[default]',
        'aws_access_key_id=AKIDFILE',
        `aws_secret_access_key=${SECRET}`,
        'aws_session_token = TOKEN1',
        'region = eu-central-1',
        '[profile camera]',
        '; a comment',
        'aws_access_key_id = AKIDCAMERA',
        `aws_secret_access_key = ${SECRET}`,
      ].join('\r\n'),
    );
    assert.deepEqual(loadUploadCredentials(path, {}).credentials, {
      accessKeyId: 'AKIDFILE',
      secretAccessKey: SECRET,
      sessionToken: 'TOKEN1',
    });
    assert.equal(loadUploadCredentials(path, {}, 'other').credentials.accessKeyId, 'AKIDOTHER');
    assert.equal(loadUploadCredentials(path, {}, 'camera').credentials.accessKeyId, 'AKIDCAMERA');
    refused(path, /no \[nope\] profile in the file/, 'nope');
    // A file without sections is the default profile only.
    refused(file(plain), /profile camera asked for, but the file has no \[section\] lines/, 'camera');
  });

  it('refuses hostile files: a link, a FIFO, a folder, oversize, incomplete, keys with spaces or control characters', () => {
    const good = file(plain);
    const link = join(mkdtempSync(join(tmpdir(), 'rearview-creds-')), 'link');
    symlinkSync(good, link);
    refused(link, /is a symbolic link/);
    const fifo = join(mkdtempSync(join(tmpdir(), 'rearview-creds-')), 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    refused(fifo, /not a regular file/);
    const dir = mkdtempSync(join(tmpdir(), 'rearview-creds-'));
    chmodSync(dir, 0o700);
    refused(dir, /not a regular file/);
    refused(join(dir, 'missing'), /does not exist/);
    refused(file(`${plain}# ${'x'.repeat(5000)}\n`), /over 4096 bytes/);
    refused(
      file('aws_access_key_id = AKIDFILE\n'),
      /profile default needs aws_access_key_id = \.\.\. and aws_secret_access_key/,
    );
    refused(
      file(`[default]\naws_access_key_id = AKID FILE\naws_secret_access_key = ${SECRET}\n`),
      /spaces or characters outside printable ASCII/,
    );
    refused(file(`aws_access_key_id = AKIDFILE\naws_secret_access_key = ${SECRET}\u0007\n`), /outside printable ASCII/);
    refused(file(`aws_access_key_id = AKIDFILE\naws_secret_access_key = ${SECRET}é\n`), /outside printable ASCII/);
    // A broken section line does not let its keys count for the profile before it.
    refused(
      file(`[default]\n[broken\naws_access_key_id = AKIDFILE\naws_secret_access_key = ${SECRET}\n`),
      /profile default needs/,
    );
  });

  it('environment: both keys needed, said without values', () => {
    assert.throws(
      () => loadUploadCredentials(undefined, { AWS_ACCESS_KEY_ID: 'X' }),
      /set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    );
    const r = loadUploadCredentials(undefined, {
      AWS_ACCESS_KEY_ID: 'A',
      AWS_SECRET_ACCESS_KEY: 'B',
      AWS_SESSION_TOKEN: '',
    });
    assert.deepEqual(r, {
      credentials: { accessKeyId: 'A', secretAccessKey: 'B', sessionToken: undefined },
      source: 'environment',
    });
  });
});

describe('uploadCa file', () => {
  it('reads PEM certificates and refuses a key, garbage, a link and a folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rearview-ca-'));
    const certs = makeTestCertificates(dir);
    assert.match(readUploadCa(certs.caCertPath), /^-----BEGIN CERTIFICATE-----/);
    const withKey = join(dir, 'with-key.pem');
    writeFileSync(withKey, certs.caCert + certs.serverKey);
    assert.throws(() => readUploadCa(withKey), /holds a private key/);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    assert.throws(() => readUploadCa(garbage), /certificate 1 does not parse/);
    const empty = join(dir, 'empty.pem');
    writeFileSync(empty, 'hello\n');
    assert.throws(() => readUploadCa(empty), /no PEM certificate/);
    const link = join(dir, 'link.pem');
    symlinkSync(certs.caCertPath, link);
    assert.throws(() => readUploadCa(link), /is a symbolic link/);
    assert.throws(() => readUploadCa(dir), /not a regular file/);
  });
});
