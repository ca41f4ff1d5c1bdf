/**
 * STUN and TURN servers for WebRTC viewers beyond the camera's own network
 * (config `webrtcIceServers`, config file only: TURN credentials are
 * secrets). Each entry is a URL (`stun:host[:port]`, `turn:host[:port]`,
 * `turns:host[:port]`, RFC 7064/7065, with an optional `?transport=udp|tcp`
 * on TURN) or an object `{ "urls": URL, "username": ..., "credential": ... }`
 * as in a browser's RTCIceServer. They reach node-datachannel as structured
 * objects (host, port, relay type, credentials), never as text built from
 * the values.
 */

/** One STUN/TURN server, validated (the form the config keeps, and the config file may give). */
export interface IceServerConfig {
  /** The server's URL without credentials: `stun:host:port`, `turn:host:port?transport=udp`, `turns:host:port`. */
  urls: string;
  /** TURN only. */
  username?: string;
  /** TURN only. */
  credential?: string;
}

/** What node-datachannel's RtcConfig.iceServers takes. */
export interface NdcIceServer {
  hostname: string;
  port: number;
  username?: string;
  password?: string;
  relayType?: 'TurnUdp' | 'TurnTcp' | 'TurnTls';
}

/** Most servers in the list. */
export const MAX_ICE_SERVERS = 8;

/** A host name (DNS labels), an IPv4 address, or an IPv6 address in brackets. */
const HOST_RE =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])$/i;
const URL_RE = /^(stun|turn|turns):([^:?/@]+|\[[^\]]+\])(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/i;
/** Printable ASCII without spaces, at most 256 characters: what TURN servers issue (RFC 8489 allows more; nobody uses it). */
const SECRET_RE = /^[\x21-\x7e]{1,256}$/;

/** Parsed parts of a validated entry. */
interface IceServerParts {
  scheme: 'stun' | 'turn' | 'turns';
  host: string;
  port: number;
  transport: 'udp' | 'tcp' | undefined;
}

function parts(url: string, where: string): IceServerParts {
  const m = URL_RE.exec(url);
  if (!m) {
    throw new IceServerError(
      `${where}: expected stun:HOST[:PORT], turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT], got ${JSON.stringify(url.slice(0, 200))}`,
    );
  }
  const scheme = (m[1] as string).toLowerCase() as IceServerParts['scheme'];
  const host = m[2] as string;
  if (!HOST_RE.test(host)) throw new IceServerError(`${where}: not a host name or address: ${JSON.stringify(host)}`);
  const port = m[3] === undefined ? (scheme === 'turns' ? 5349 : 3478) : Number(m[3]);
  if (!(port >= 1 && port <= 65_535)) throw new IceServerError(`${where}: port ${m[3]} is not 1 to 65535`);
  const transport = m[4]?.toLowerCase() as 'udp' | 'tcp' | undefined;
  if (transport !== undefined && scheme === 'stun')
    throw new IceServerError(`${where}: ?transport= belongs to turn: URLs only`);
  if (transport === 'udp' && scheme === 'turns')
    throw new IceServerError(`${where}: turns: (TURN over TLS) runs over TCP, not udp`);
  return { scheme, host, port, transport };
}

/** A bad `webrtcIceServers` entry (the config loader turns it into a ConfigError). */
export class IceServerError extends Error {}

/**
 * Validates the config value (an array of URLs or `{urls, username,
 * credential}` objects) into the kept form; throws IceServerError with the
 * entry's index. Credentials are never echoed in the message.
 */
export function parseIceServers(value: unknown): IceServerConfig[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw new IceServerError(
      'webrtcIceServers: expected a list of stun:/turn:/turns: URLs or {urls, username, credential}',
    );
  if (value.length > MAX_ICE_SERVERS)
    throw new IceServerError(`webrtcIceServers: at most ${MAX_ICE_SERVERS} servers, got ${value.length}`);
  return value.map((entry, i): IceServerConfig => {
    const where = `webrtcIceServers[${i}]`;
    const obj: Record<string, unknown> =
      typeof entry === 'string' ? { urls: entry } : typeof entry === 'object' && entry !== null ? entry : {};
    for (const key of Object.keys(obj))
      if (key !== 'urls' && key !== 'username' && key !== 'credential')
        throw new IceServerError(
          `${where}: unknown key ${JSON.stringify(key.slice(0, 40))} (urls, username, credential)`,
        );
    if (typeof obj.urls !== 'string') throw new IceServerError(`${where}: expected a URL string in "urls"`);
    const p = parts(obj.urls.trim(), where);
    const urls = `${p.scheme}:${p.host}:${p.port}${p.transport ? `?transport=${p.transport}` : ''}`;
    const { username, credential } = obj;
    if (p.scheme === 'stun') {
      if (username !== undefined || credential !== undefined)
        throw new IceServerError(`${where}: a stun: server takes no username or credential`);
      return { urls };
    }
    if (typeof username !== 'string' || !SECRET_RE.test(username))
      throw new IceServerError(`${where}: a ${p.scheme}: server needs a username (printable ASCII, no spaces)`);
    if (typeof credential !== 'string' || !SECRET_RE.test(credential))
      throw new IceServerError(`${where}: a ${p.scheme}: server needs a credential (printable ASCII, no spaces)`);
    return { urls, username, credential };
  });
}

/** The list as node-datachannel takes it. */
export function toNdcIceServers(servers: readonly IceServerConfig[]): NdcIceServer[] {
  return servers.map((s) => {
    const p = parts(s.urls, 'webrtcIceServers');
    const hostname = p.host.startsWith('[') ? p.host.slice(1, -1) : p.host;
    if (p.scheme === 'stun') return { hostname, port: p.port };
    const relayType = p.scheme === 'turns' ? 'TurnTls' : p.transport === 'tcp' ? 'TurnTcp' : 'TurnUdp';
    return {
      hostname,
      port: p.port,
      relayType,
      ...(s.username !== undefined ? { username: s.username } : {}),
      ...(s.credential !== undefined ? { password: s.credential } : {}),
    };
  });
}

/** Shown in place of a secret. */
export const MASKED = '***';

/** The list for the settings API: URLs, credentials masked. */
export function maskedIceServers(servers: readonly IceServerConfig[]): IceServerConfig[] {
  return servers.map((s) => ({
    urls: s.urls,
    ...(s.username !== undefined ? { username: MASKED } : {}),
    ...(s.credential !== undefined ? { credential: MASKED } : {}),
  }));
}
