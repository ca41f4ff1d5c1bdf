/**
 * Allow-list of client networks (CIDR, IPv4 and IPv6) for ports 5000 and
 * 8000, built on Node's own `net.BlockList`. The config loader validates
 * `allowNetworks` with it; the daemon compiles it once and hands the same
 * list to the TCP output, the HTTP API and the WebSocket viewers. An empty list allows everyone
 * (the device's default). IPv4-mapped IPv6 addresses (`::ffff:10.0.0.5`, as
 * a dual-stack server reports IPv4 clients) are checked as IPv4.
 */
import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../errors.js';

/** A compiled allow-list; build once with `compileAllowList`. */
export interface AllowList {
  /** The networks as given. */
  readonly networks: readonly string[];
  /** True when `address` may connect. */
  allows(address: string | undefined): boolean;
}

function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  let a = address.trim();
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) a = mapped[1] as string;
  const v = isIP(a);
  if (v === 4) return { address: a, family: 'ipv4' };
  if (v === 6) return { address: a, family: 'ipv6' };
  return undefined;
}

/**
 * Compiles CIDR networks ("192.168.9.0/24", "fd00::/8", or a bare address
 * meaning one host). Throws ConfigError naming the bad entry.
 */
export function compileAllowList(networks: readonly string[], setting = 'allowNetworks'): AllowList {
  const list = new BlockList();
  for (const entry of networks) {
    const [addr = '', prefixText, extra] = entry.trim().split('/');
    const n = normalise(addr);
    if (!n || extra !== undefined)
      throw new ConfigError(`${setting}: "${entry}" is not an IPv4 or IPv6 network (example: 192.168.9.0/24)`);
    const max = n.family === 'ipv4' ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > max ||
      (prefixText !== undefined && !/^\d+$/.test(prefixText))
    ) {
      throw new ConfigError(`${setting}: "${entry}" has a bad prefix length (0..${max})`);
    }
    list.addSubnet(n.address, prefix, n.family);
  }
  const copy = [...networks];
  return {
    networks: copy,
    allows(address) {
      if (copy.length === 0) return true;
      if (!address) return false;
      const n = normalise(address);
      return n !== undefined && list.check(n.address, n.family);
    },
  };
}
