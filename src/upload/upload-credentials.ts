/**
 * Upload credentials: from the file named by `uploadCredentialsFile` when
 * set (mode 0600, not a link: util/secret-file.ts), else from the
 * environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
 * `AWS_SESSION_TOKEN`). Never from the config itself, never logged: errors
 * name the file or the variables, never a value.
 *
 * File format: an AWS shared-credentials file: `[profile]` sections of
 * `key = value` lines (`aws_access_key_id`, `aws_secret_access_key`,
 * `aws_session_token`; other keys ignored), `#`/`;` comments. The profile
 * `uploadCredentialsProfile` (default `default`; `[profile NAME]`, the
 * config-file spelling, is accepted too) is used; a file without any
 * section is one profile, used only for `default`. The file is hostile
 * input: read once (util/secret-file.ts: no link, regular, at most 4 KiB,
 * 0600), a key with spaces or control characters is refused, a profile
 * missing or incomplete is an error naming the file and the profile, never
 * a value.
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
  profile = 'default',
): { credentials: S3Credentials; source: CredentialSource } {
  if (file !== undefined) {
    const values = profileValues(readSecretText(file, 'uploadCredentialsFile', 0o077), profile, file);
    const accessKeyId = values.aws_access_key_id;
    const secretAccessKey = values.aws_secret_access_key;
    if (!accessKeyId || !secretAccessKey)
      throw new ConfigError(
        `uploadCredentialsFile ${file}: profile ${profile} needs aws_access_key_id = ... and aws_secret_access_key = ... lines`,
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

/** The `key = value` pairs of one profile (first value of a key wins); ConfigError when the profile is not there. */
function profileValues(text: string, profile: string, file: string): Record<string, string> {
  const sections = new Map<string, Record<string, string>>();
  let current: Record<string, string> = {};
  sections.set('', current);
  let sawSection = false;
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]\s]+)\s*\]$/.exec(t);
    if (header) {
      sawSection = true;
      const name = header[1] as string;
      current = sections.get(name) ?? {};
      sections.set(name, current);
      continue;
    }
    if (t.startsWith('[')) {
      // A broken section line: what follows belongs to no profile we can name.
      current = {};
      continue;
    }
    const eq = t.indexOf('=');
    if (eq > 0) current[t.slice(0, eq).trim().toLowerCase()] ??= t.slice(eq + 1).trim();
  }
  if (!sawSection) {
    if (profile !== 'default')
      throw new ConfigError(
        `uploadCredentialsFile ${file}: profile ${profile} asked for, but the file has no [section] lines`,
      );
    return sections.get('') as Record<string, string>;
  }
  const values = sections.get(profile);
  if (!values) throw new ConfigError(`uploadCredentialsFile ${file}: no [${profile}] profile in the file`);
  return values;
}
