/**
 * Reads a credential (the API token) from a file: the way to give a secret
 * without putting it on a command line, where `ps` shows it to every user.
 * The file is opened once without following a symbolic link, and what was
 * opened is checked (a regular file, small, not readable by every user).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/** Longest credential file read, bytes (a token is tens of bytes). */
const MAX_SECRET_FILE_BYTES = 4096;

/**
 * The first line of `path`, trimmed. `what` names the setting in errors
 * (`apiTokenFile`). Throws ConfigError when the file is missing, a link, not
 * a regular file, larger than 4 KiB, empty, or readable by every user
 * (mode o+r: `chmod 600` it).
 */
export function readSecretFile(path: string, what: string): string {
  const value = (readSecretText(path, what, 0o004).split(/\r?\n/)[0] ?? '').trim();
  if (value === '') throw new ConfigError(`${what} ${path}: the file is empty`);
  return value;
}

/**
 * The whole text of a small secret file, checked as readSecretFile does;
 * `forbiddenMode` is the permission bits that refuse it (0o004: readable by
 * every user; 0o077: anything beyond the owner, i.e. not 0600/0400).
 */
export function readSecretText(path: string, what: string, forbiddenMode = 0o004): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ELOOP'
        ? 'is a symbolic link'
        : code === 'ENOENT'
          ? 'does not exist'
          : code === 'EACCES'
            ? 'permission denied'
            : (err as Error).message;
    throw new ConfigError(`${what} ${path}: ${why}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`${what} ${path}: not a regular file`);
    if (st.size > MAX_SECRET_FILE_BYTES)
      throw new ConfigError(`${what} ${path}: over ${MAX_SECRET_FILE_BYTES} bytes, not a token file`);
    if ((st.mode & forbiddenMode) !== 0) {
      throw new ConfigError(
        `${what} ${path}: ${forbiddenMode === 0o004 ? 'readable by every user' : 'open to other users'} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${path}`,
      );
    }
    const buf = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > MAX_SECRET_FILE_BYTES)
        throw new ConfigError(`${what} ${path}: over ${MAX_SECRET_FILE_BYTES} bytes, not a token file`);
    }
    return buf.subarray(0, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
