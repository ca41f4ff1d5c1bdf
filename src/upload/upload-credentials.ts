/**
 * Upload credentials: from the file named by `uploadCredentialsFile` when
 * set (mode 0600, not a link: util/secret-file.ts), else from the
 * environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
 * `AWS_SESSION_TOKEN`). Never from the config itself, never logged: errors
 * name the file or the variables, never a value.
 *
 * File format: the AWS shared-credentials keys, one `key = value` a line
 * (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`);
 * `[section]` lines and `#`/`;` comments are ignored, so a one-profile
 * `~/.aws/credentials` file works as it is.
 */
import { ConfigError } from '../errors.js';
import { readSecretText } from '../util/secret-file.js';
import type { S3Credentials } from './sigv4.js';

/** Where the credentials came from (shown in the settings and status, never the values). */
export type CredentialSource = 'file' | 'environment';

/** Reads the credentials; ConfigError saying what is missing. */
export function loadUploadCredentials(
  file: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { credentials: S3Credentials; source: CredentialSource } {
  if (file !== undefined) {
    const values: Record<string, string> = {};
    for (const line of readSecretText(file, 'uploadCredentialsFile', 0o077).split(/\r?\n/)) {
      const t = line.trim();
      if (t === '' || t.startsWith('#') || t.startsWith(';') || t.startsWith('[')) continue;
      const eq = t.indexOf('=');
      if (eq > 0) values[t.slice(0, eq).trim().toLowerCase()] ??= t.slice(eq + 1).trim();
    }
    const accessKeyId = values.aws_access_key_id;
    const secretAccessKey = values.aws_secret_access_key;
    if (!accessKeyId || !secretAccessKey)
      throw new ConfigError(
        `uploadCredentialsFile ${file}: expected aws_access_key_id = ... and aws_secret_access_key = ... lines`,
      );
    checkKey(accessKeyId, secretAccessKey, values.aws_session_token, `uploadCredentialsFile ${file}`);
    return {
      credentials: { accessKeyId, secretAccessKey, sessionToken: values.aws_session_token || undefined },
      source: 'file',
    };
  }
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new ConfigError(
      'upload: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, or uploadCredentialsFile in the config file',
    );
  checkKey(accessKeyId, secretAccessKey, env.AWS_SESSION_TOKEN, 'the AWS_* environment variables');
  return {
    credentials: { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined },
    source: 'environment',
  };
}

/** Keys go into request headers: printable ASCII without spaces only (never echoed). */
function checkKey(id: string, secret: string, token: string | undefined, where: string): void {
  const ok = (v: string): boolean => /^[\x21-\x7e]{1,4096}$/.test(v);
  if (!ok(id) || !ok(secret) || (token !== undefined && token !== '' && !ok(token)))
    throw new ConfigError(`${where}: a key holds spaces or characters outside printable ASCII`);
}
