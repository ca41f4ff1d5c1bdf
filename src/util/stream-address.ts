/**
 * The one parser of stream addresses (`tcp://host[:port]`), used by every
 * command (`nalu`, `record`, `view`, `serve --source`) and by the client
 * library, so they all accept the same forms, default to the same port and
 * word a bad address the same way.
 */
import { ConfigError } from '../errors.js';

/** Default port of the raw H.264 stream. */
export const DEFAULT_STREAM_PORT = 5000;

/** A parsed stream address. */
export interface StreamAddress {
  /** Host name or IP address, IPv6 without brackets (what net.connect takes). */
  host: string;
  port: number;
  /** Normalised `tcp://host:port` (IPv6 in brackets), for messages and ffplay. */
  url: string;
}

/** True when `spec` is written as a `tcp://` URL (as opposed to a file path or another source form). */
export function isTcpUrl(spec: string): boolean {
  return /^\s*tcp:\/\//i.test(spec);
}

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const IPV6_IN_BRACKETS = /^\[[0-9A-Fa-f:.]+\]$/;

/**
 * Parses `tcp://host[:port]`, `host[:port]` or `[v6addr][:port]` (port 5000
 * when missing). Anything else (another scheme, a path, a query, user info,
 * a port outside 1-65535) throws ConfigError (ERR_CONFIG): an address also
 * ends up on ffplay's command line, where `?listen` would change what it does.
 */
export function parseStreamAddress(spec: string): StreamAddress {
  const text = spec.trim();
  const bad = (): ConfigError =>
    new ConfigError(
      `invalid stream address ${JSON.stringify(spec)}: expected tcp://host[:port] with a port from 1 to 65535 (default ${DEFAULT_STREAM_PORT})`,
    );
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `tcp://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw bad();
  }
  if (
    url.protocol !== 'tcp:' ||
    url.username ||
    url.password ||
    url.search ||
    url.hash ||
    (url.pathname !== '' && url.pathname !== '/')
  )
    throw bad();
  const hostname = url.hostname;
  if (!HOST_NAME.test(hostname) && !IPV6_IN_BRACKETS.test(hostname)) throw bad();
  const port = url.port === '' ? DEFAULT_STREAM_PORT : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad();
  return { host: hostname.replace(/^\[(.*)\]$/, '$1'), port, url: `tcp://${hostname}:${port}` };
}
