/**
 * Publishing targets (`--publish URL`, config key `publish`): parsed once with
 * the WHATWG URL parser, the scheme checked against a closed list, and a
 * masked form made for everything people see (logs, status, errors, the
 * settings API). The URL itself goes to ffmpeg as one argv element, never
 * through a shell, with `-protocol_whitelist` limited to the scheme's
 * transports (src/outputs/publisher.ts).
 *
 * What counts as a credential: the password of `user:pass@`, the user name
 * too (it is half of the pair), the values of query keys that carry secrets
 * (`passphrase`, `streamid`, `key`, `token`, ...) and, for RTMP, the stream
 * key (the path's last segment: `rtmp://host/app/KEY`, as OBS hides it).
 */
import { ConfigError } from '../errors.js';

/** The schemes we publish to. */
export type PublishScheme = 'rtsp' | 'rtsps' | 'rtmp' | 'rtmps' | 'srt' | 'whip+http' | 'whip+https';

/** Which hub a publisher reads: the live stream (default) or the recording profile. */
export type PublishProfile = 'stream' | 'record';

/** A checked publishing target. */
export interface PublishTarget {
  scheme: PublishScheme;
  /** The URL as parsed (normalised), `{name}` not yet replaced, without its fragment (it goes to ffmpeg). */
  url: string;
  /** The same URL with every credential replaced by `***` (shown everywhere). */
  masked: string;
  /** `#profile=record` publishes the recording profile; default the stream profile. */
  profile: PublishProfile;
  /** Needs certificate verification (rtmps, rtsps, whip+https). */
  tls: boolean;
  /** Secret strings (raw and percent-decoded) that must never appear in text we show. */
  secrets: string[];
}

/** Schemes and why a known but unsupported one is refused. */
const SUPPORTED: readonly PublishScheme[] = ['rtsp', 'rtsps', 'rtmp', 'rtmps', 'srt', 'whip+http', 'whip+https'];
const WHIP_HINT = 'a WHIP endpoint is written whip+https://[TOKEN@]host[:port]/path (or whip+http://)';
const REFUSED: Record<string, string> = {
  http: `http(s):// is ambiguous: ${WHIP_HINT}`,
  https: `http(s):// is ambiguous: ${WHIP_HINT}`,
  whip: WHIP_HINT,
  whips: WHIP_HINT,
};
const DEFAULT_PORTS: Record<PublishScheme, number> = {
  rtsp: 554,
  rtsps: 322,
  rtmp: 1935,
  rtmps: 443,
  srt: 0,
  'whip+http': 80,
  'whip+https': 443,
};

/** A WHIP endpoint's host: a DNS name or an address (the URL parser keeps other hosts of whip+ URLs opaque). */
const WHIP_HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.?)*|\[[0-9A-Fa-f:.]+\])$/;

/** Query keys whose values are secrets (lower case). */
const SECRET_QUERY_KEYS = new Set([
  'passphrase',
  'pass',
  'password',
  'pwd',
  'key',
  'token',
  'secret',
  'streamid',
  'auth',
  'sig',
  'signature',
]);

/** SRT options a URL may carry (ffmpeg's libsrt names); anything else is refused, so no option reaches ffmpeg unchecked. */
const SRT_QUERY_KEYS = new Set([
  'mode',
  'passphrase',
  'pbkeylen',
  'latency',
  'streamid',
  'timeout',
  'maxbw',
  'tlpktdrop',
]);

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL_CHAR_RE = /[\u0000-\u001f\u007f\s]/;

/** The placeholder for the camera's fleet name in a target's path. */
export const NAME_PLACEHOLDER = '{name}';

/**
 * Parses and checks one target. Throws ConfigError with the masked URL
 * (never the raw one) when it is malformed or its scheme is not supported.
 */
export function parsePublishTarget(input: unknown): PublishTarget {
  if (typeof input !== 'string' || input === '') throw new ConfigError('publish: expected a URL string');
  // Before parsing: the error messages below may only show a masked form, and a bad URL cannot be masked.
  const rough = roughMask(input);
  if (CONTROL_CHAR_RE.test(input))
    throw new ConfigError(`publish: spaces and control characters are not allowed in ${rough}`);
  if (input.length > 2048) throw new ConfigError(`publish: URL longer than 2048 characters: ${rough.slice(0, 60)}...`);
  // {name} is not valid in a URL path's raw form for every parser: parse with a stand-in, keep the original.
  const parseable = input.split(NAME_PLACEHOLDER).join('__rearview_name__');
  let url: URL;
  try {
    url = new URL(parseable);
  } catch {
    throw new ConfigError(`publish: not a valid URL: ${rough}`);
  }
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  if (REFUSED[scheme]) throw new ConfigError(`publish: ${REFUSED[scheme]} (${rough})`);
  if (!(SUPPORTED as readonly string[]).includes(scheme))
    throw new ConfigError(
      `publish: unknown scheme "${scheme}:" in ${rough}: expected rtsp://, rtsps://, rtmp://, rtmps://, srt://, whip+https:// or whip+http://`,
    );
  const s = scheme as PublishScheme;
  if (url.hostname === '') throw new ConfigError(`publish: no host in ${rough}`);
  const whip = s === 'whip+http' || s === 'whip+https';
  if (whip && !WHIP_HOST_RE.test(url.hostname))
    throw new ConfigError(`publish: not a host name or address in ${rough}`);
  if (whip && url.password !== '' && url.username !== '' && url.username !== 'bearer')
    throw new ConfigError(
      `publish: a WHIP token goes as whip+https://TOKEN@host/... or whip+https://bearer:TOKEN@host/... (${rough})`,
    );
  if (whip) {
    // The token becomes an Authorization header: printable ASCII only (no header splitting).
    const token = whipEndpoint(url.href).token;
    if (token !== undefined && !/^[\x21-\x7e]{1,4096}$/.test(token))
      throw new ConfigError(`publish: the WHIP token may only hold printable ASCII characters (${rough})`);
  }
  if (url.port === '' && s === 'srt')
    throw new ConfigError(`publish: srt:// needs a port (srt://host:port) in ${rough}`);
  const secrets: string[] = [];
  const addSecret = (raw: string): void => {
    if (raw === '') return;
    secrets.push(raw);
    try {
      const decoded = decodeURIComponent(raw);
      if (decoded !== raw) secrets.push(decoded);
    } catch {
      // not percent-encoded text: the raw form is enough
    }
  };
  addSecret(url.username);
  addSecret(url.password);
  let profile: PublishProfile = 'stream';
  if (url.hash !== '') {
    const fragment = new URLSearchParams(url.hash.slice(1));
    for (const [k, v] of fragment) {
      if (k === 'profile' && (v === 'record' || v === 'stream')) profile = v;
      else
        throw new ConfigError(
          `publish: unknown fragment "${k}=${v}" in ${rough}: expected #profile=record or #profile=stream`,
        );
    }
  }
  for (const [k, v] of url.searchParams) {
    if (SECRET_QUERY_KEYS.has(k.toLowerCase())) addSecret(v);
    if (s === 'srt' && !SRT_QUERY_KEYS.has(k))
      throw new ConfigError(
        `publish: srt option "${k}" is not supported in ${rough} (supported: ${[...SRT_QUERY_KEYS].join(', ')})`,
      );
    if (s === 'srt' && k === 'mode' && v !== 'caller')
      throw new ConfigError(`publish: srt:// is published in caller mode only (${rough})`);
  }
  if (s === 'srt') checkSrtOptions(url, rough);
  if ((s === 'rtmp' || s === 'rtmps') && url.pathname.split('/').filter(Boolean).length < 2)
    throw new ConfigError(`publish: ${s}:// needs an application and a stream name (${s}://host/app/stream): ${rough}`);
  // The RTMP stream key is the last path segment.
  if (s === 'rtmp' || s === 'rtmps') {
    const last = url.pathname.split('/').pop() ?? '';
    if (last !== '' && !last.includes('__rearview_name__')) addSecret(last);
  }
  // What ffmpeg gets is what was checked: the parsed URL, normalised, without its fragment.
  url.hash = '';
  const target: PublishTarget = {
    scheme: s,
    url: url.href.split('__rearview_name__').join(NAME_PLACEHOLDER),
    masked: '',
    profile,
    tls: s === 'rtmps' || s === 'rtsps' || s === 'whip+https',
    secrets: [...new Set(secrets)].sort((a, b) => b.length - a.length),
  };
  target.masked = maskedForm(url, s) + (profile === 'record' ? '#profile=record' : '');
  return target;
}

function checkSrtOptions(url: URL, rough: string): void {
  const p = url.searchParams.get('passphrase');
  // libsrt: 10 to 79 characters, or none.
  if (p !== null && (p.length < 10 || p.length > 79))
    throw new ConfigError(`publish: srt passphrase must be 10 to 79 characters (${rough})`);
  for (const k of ['latency', 'pbkeylen', 'timeout', 'maxbw']) {
    const v = url.searchParams.get(k);
    if (v !== null && !/^\d{1,12}$/.test(v))
      throw new ConfigError(`publish: srt option ${k} must be a whole number (${rough})`);
  }
  const pb = url.searchParams.get('pbkeylen');
  if (pb !== null && !['0', '16', '24', '32'].includes(pb))
    throw new ConfigError(`publish: srt pbkeylen must be 16, 24 or 32 (${rough})`);
  const drop = url.searchParams.get('tlpktdrop');
  if (drop !== null && drop !== '0' && drop !== '1')
    throw new ConfigError(`publish: srt tlpktdrop must be 0 or 1 (${rough})`);
}

/** The URL with user, password, secret query values and the RTMP stream key replaced by ***. */
function maskedForm(url: URL, scheme: PublishScheme): string {
  const auth = url.username || url.password ? `***${url.password ? ':***' : ''}@` : '';
  let path = url.pathname;
  if (scheme === 'rtmp' || scheme === 'rtmps') {
    const parts = path.split('/');
    const last = parts[parts.length - 1] ?? '';
    if (last !== '' && !last.includes('__rearview_name__')) parts[parts.length - 1] = '***';
    path = parts.join('/');
  }
  const query = [...url.searchParams]
    .map(([k, v]) => `${k}=${SECRET_QUERY_KEYS.has(k.toLowerCase()) ? '***' : v}`)
    .join('&');
  const host = url.port ? `${url.hostname}:${url.port}` : url.hostname;
  return `${scheme}://${auth}${host}${path === '/' && scheme === 'srt' ? '' : path}${query ? `?${query}` : ''}`
    .split('__rearview_name__')
    .join(NAME_PLACEHOLDER);
}

/**
 * A best-effort mask for text that did not parse as a URL: keeps the scheme
 * and host-ish start, hides userinfo and everything after the first `/`, `?`
 * or `#` past the authority.
 */
export function roughMask(text: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?([^/?#]*)(.*)$/s.exec(text);
  if (!m) return '***';
  const authority = (m[2] ?? '').replace(/^.*@/, '***@').replace(CONTROL_CHAR_RE, '?');
  return `${m[1] ?? ''}${authority.slice(0, 100)}${(m[3] ?? '') === '' ? '' : '/***'}`;
}

/** Replaces every secret of `target` (and its raw URL) in `text` with its masked form / ***. */
export function maskSecrets(text: string, target: Pick<PublishTarget, 'url' | 'masked' | 'secrets'>): string {
  let out = text.split(target.url).join(target.masked);
  for (const secret of target.secrets) out = out.split(secret).join('***');
  return out;
}

/** A WHIP target's HTTP endpoint and bearer token (from its user information). */
export interface WhipEndpoint {
  /** http(s)://host[:port]/path[?query]: what the offer is POSTed to. */
  endpoint: string;
  /** The bearer token (percent-decoded), or undefined for none. */
  token: string | undefined;
}

/**
 * Splits a checked `whip+http(s)://` URL (its `{name}` filled in) into the
 * endpoint and the token: the password of `bearer:TOKEN@`, else the user
 * name of `TOKEN@`.
 */
export function whipEndpoint(url: string): WhipEndpoint {
  const u = new URL(url);
  const scheme = u.protocol === 'whip+https:' ? 'https' : 'http';
  const raw = u.password !== '' ? u.password : u.username;
  let token: string | undefined;
  try {
    token = raw === '' ? undefined : decodeURIComponent(raw);
  } catch {
    token = raw;
  }
  return { endpoint: `${scheme}://${u.host}${u.pathname}${u.search}`, token };
}

/** Default port of a scheme (0: none). */
export function defaultPublishPort(scheme: PublishScheme): number {
  return DEFAULT_PORTS[scheme];
}
