/**
 * The CA certificates of `uploadCa` (`--upload-ca FILE`): a PEM file the
 * operator names for an endpoint with a private CA (a MinIO on the LAN).
 * Trusted besides Node's built-in roots (s3-client.ts). Read like any file a
 * setting names: opened once without following a link, a regular file, at
 * most 256 KiB, and every `CERTIFICATE` block must parse as an X.509
 * certificate (anything else, a key included, is refused: a private key has
 * no business in this file).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { ConfigError } from '../errors.js';

/** Largest CA file read (a bundle of a few hundred certificates). */
const MAX_CA_FILE_BYTES = 256 * 1024;

/** The PEM text of the certificates in `path`; ConfigError saying what is wrong. */
export function readUploadCa(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ELOOP' ? 'is a symbolic link' : code === 'ENOENT' ? 'does not exist' : (err as Error).message;
    throw new ConfigError(`uploadCa ${path}: ${why}`, { cause: err });
  }
  let text: string;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`uploadCa ${path}: not a regular file`);
    const buf = Buffer.alloc(MAX_CA_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > MAX_CA_FILE_BYTES) throw new ConfigError(`uploadCa ${path}: over ${MAX_CA_FILE_BYTES} bytes`);
    }
    text = buf.subarray(0, length).toString('latin1');
  } finally {
    closeSync(fd);
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text))
    throw new ConfigError(`uploadCa ${path}: holds a private key; give only the CA certificate(s)`);
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError(`uploadCa ${path}: no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  for (const [i, pem] of blocks.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new ConfigError(`uploadCa ${path}: certificate ${i + 1} does not parse (${(err as Error).message})`);
    }
  }
  return `${blocks.join('\n')}\n`;
}
