/**
 * Advertises the camera on the LAN with mDNS/DNS-SD (bonjour-service), so
 * apps and `rearview discover` find it without knowing its address.
 *
 * One service of type `_rearview._tcp` on the API port, with TXT records
 * (docs/protocol.md, "Discovery"):
 *   stream=5000  api=8000  model=velovision-rearview  res=640x360
 *   fps=30  version=0.1.0  proto=h264-annexb
 * The raw stream has no DNS-SD service type of its own (there is no
 * registered one for bare H.264 over TCP), so its port travels in TXT.
 *
 * A machine without multicast (no route, EADDRINUSE on 5353, a container
 * without the interface) must not lose the camera: every error is logged
 * and advertising is given up, never thrown.
 *
 * A name already taken on the network gets a number (`name (2)`, `name (3)`,
 * ...) with one warning: the names in use are heard first (a browse of
 * `_rearview._tcp` for `probeMs`), then the free one is published without
 * bonjour-service's own probe, which on a conflict only prints a stack trace
 * and withdraws the camera. Only addresses the daemon listens on are
 * advertised: its bind address, or every IPv4 address for 0.0.0.0.
 */
import { isIP } from 'node:net';
import { Bonjour, type Service } from 'bonjour-service';
import { silentLogger, type Logger } from '../log/logger.js';

/** DNS-SD service type (without the leading underscore and protocol): `_rearview._tcp`. */
export const REARVIEW_SERVICE_TYPE = 'rearview';

/** What the advertiser publishes. */
export interface MdnsAdvertisement {
  /** Instance name shown to users. Default config.cameraName ('velovision-rearview'). */
  name: string;
  /** TCP port of the raw H.264 stream (config.streamPort, default 5000). */
  streamPort: number;
  /** HTTP API port (config.apiPort, default 8000); the SRV record points here (at the stream port when 0: no API). */
  apiPort: number;
  /** Camera model. Default 'velovision-rearview'. */
  model?: string;
  /** Video size in pixels and frame rate, when known. */
  width?: number;
  height?: number;
  fps?: number;
  /** Software version (package.json). */
  version?: string;
  /**
   * The address the ports are bound to (config.bind): only it is advertised
   * (`0.0.0.0`: every IPv4 address, no IPv6; `::` or unset: every address).
   */
  bindAddress?: string;
}

/** The part of bonjour-service the advertiser and browser use (injectable for tests). */
export interface BonjourLike {
  publish(options: {
    name: string;
    type: string;
    port: number;
    protocol?: 'tcp' | 'udp';
    txt?: Record<string, string>;
    probe?: boolean;
    disableIPv6?: boolean;
  }): Pick<Service, 'on' | 'stop'>;
  find(
    options: { type: string; protocol?: 'tcp' | 'udp' },
    onUp?: (service: Service) => void,
  ): { on(event: 'up' | 'down', listener: (service: Service) => void): unknown; stop(): void; update?(): void };
  unpublishAll(callback?: () => void): void;
  destroy(callback?: () => void): void;
}

/**
 * Creates a bonjour instance whose socket errors are reported to `onError`
 * instead of crashing the process. `networkInterface` (an address, e.g.
 * `127.0.0.1`) limits mDNS to that interface; default: the
 * `REARVIEW_MDNS_INTERFACE` environment variable, else every interface. The
 * tests set it to 127.0.0.1, so they need no multicast route and announce
 * nothing on the LAN.
 */
export function createBonjour(
  onError: (err: Error) => void,
  networkInterface = process.env.REARVIEW_MDNS_INTERFACE,
  bindAddress?: string,
): BonjourLike {
  // bonjour-service hands these options to multicast-dns (its type does not list them). Sends go
  // out of `interface` only; the socket still binds the wildcard, since Linux delivers multicast
  // only to sockets bound to the group or to the wildcard (multicast-dns would bind the interface).
  const socketOptions = (
    networkInterface ? { interface: networkInterface, bind: '0.0.0.0' } : {}
  ) as ConstructorParameters<typeof Bonjour>[0];
  const bonjour = new Bonjour(socketOptions, (err: Error) => onError(err));
  // multicast-dns emits 'error' (EADDRINUSE, EACCES, ...) with no listener attached by bonjour-service: an
  // unhandled 'error' event would kill the daemon, so attach one.
  const mdns = (bonjour as unknown as { server?: { mdns?: { on(event: string, fn: (err: Error) => void): void } } })
    .server?.mdns;
  mdns?.on('error', onError);
  mdns?.on('warning', onError);
  if (bindAddress && isIP(bindAddress) && bindAddress !== '0.0.0.0' && bindAddress !== '::')
    advertiseOnly(bonjour, bindAddress);
  return bonjour as unknown as BonjourLike;
}

/** A DNS record as bonjour-service builds them. */
interface DnsRecord {
  name: string;
  type: string;
  ttl?: number;
  data: unknown;
}

/**
 * Makes `bonjour` announce `address` as the only address of its host names:
 * bonjour-service lists every non-loopback interface, so a daemon bound to
 * one address (127.0.0.1, a hotspot's address) was advertised at addresses
 * where nothing listens. Its announcements pass the same record array to
 * register() and then to respond(), and queries are answered from what was
 * registered, so rewriting that array in register() covers both.
 */
function advertiseOnly(bonjour: Bonjour, address: string): void {
  const server = (bonjour as unknown as { server?: { register?: (records: DnsRecord[] | DnsRecord) => void } }).server;
  const register = server?.register?.bind(server);
  if (!server || !register) return;
  const type = isIP(address) === 6 ? 'AAAA' : 'A';
  server.register = (records) => {
    if (Array.isArray(records)) {
      const hosts = new Set(records.filter((r) => r.type === 'SRV').map((r) => (r.data as { target: string }).target));
      const kept = records.filter((r) => r.type !== 'A' && r.type !== 'AAAA');
      records.splice(
        0,
        records.length,
        ...kept,
        ...[...hosts].map((name) => ({ name, type, ttl: 120, data: address })),
      );
    }
    register(records);
  };
}

/** `name`, else `name (2)`, `name (3)`, ...: the first one not in `taken` (compared as DNS does, ignoring case). */
export function freeServiceName(name: string, taken: Iterable<string>): string {
  const used = new Set([...taken].map((n) => n.toLowerCase()));
  if (!used.has(name.toLowerCase())) return name;
  for (let n = 2; ; n++) {
    const candidate = `${name} (${n})`;
    if (!used.has(candidate.toLowerCase())) return candidate;
  }
}

/** The TXT record of an advertisement (all values strings, per DNS-SD). */
export function advertisementTxt(ad: MdnsAdvertisement): Record<string, string> {
  const txt: Record<string, string> = {
    stream: String(ad.streamPort),
    model: ad.model ?? 'velovision-rearview',
    proto: 'h264-annexb',
  };
  if (ad.apiPort > 0) txt.api = String(ad.apiPort);
  if (ad.width && ad.height) txt.res = `${ad.width}x${ad.height}`;
  if (ad.fps) txt.fps = String(ad.fps);
  if (ad.version) txt.version = ad.version;
  return txt;
}

/** Options of {@link MdnsAdvertiser}. */
export interface MdnsAdvertiserOptions {
  logger?: Logger;
  /** Bonjour factory (tests inject a fake). Default: bonjour-service on the default interfaces. */
  createBonjour?: (onError: (err: Error) => void) => BonjourLike;
  /** How long to listen for cameras already using the name before publishing, ms; 0 skips it. Default 1000. */
  probeMs?: number;
}

/** Publishes one `_rearview._tcp` service while started. */
export class MdnsAdvertiser {
  private readonly log: Logger;
  private readonly factory: (onError: (err: Error) => void) => BonjourLike;
  private bonjour: BonjourLike | undefined;
  private closed = false;
  private failed = false;
  private readonly probeMs: number;
  private starting: Promise<void> | undefined;
  /** Ends the name probe at once (close() during start()). */
  private endProbe: (() => void) | undefined;
  /** The name published (the configured one, or `name (2)`... when it was taken). */
  publishedName: string | undefined;

  constructor(
    private readonly ad: MdnsAdvertisement,
    options: MdnsAdvertiserOptions = {},
  ) {
    this.log = (options.logger ?? silentLogger).child('mdns');
    this.factory = options.createBonjour ?? ((onError) => createBonjour(onError, undefined, ad.bindAddress));
    this.probeMs = options.probeMs ?? 1000;
  }

  /** True while the service is published (false after an error or close()). */
  get active(): boolean {
    return this.bonjour !== undefined && !this.failed && !this.closed;
  }

  /**
   * Starts advertising: listens for the name in use (probeMs), then publishes.
   * Resolves once published (or given up). Never throws for network reasons:
   * failures are logged and advertising stops. Idempotent.
   */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (this.closed) return;
    const onError = (err: Error): void => {
      if (this.failed || this.closed) return;
      this.failed = true;
      this.log.warn(`mDNS advertising disabled: ${err.message} (the camera still works; find it by address)`);
      // Not at once: multicast-dns reports a failed setMulticastInterface (no multicast-capable
      // interface, e.g. only loopback up) from inside its 'listening' handler, which goes on to call
      // setMulticastTTL; a socket closed under it throws there, uncaught, and stops the daemon.
      setImmediate(() => this.shutdown());
    };
    try {
      const bonjour = this.factory(onError);
      this.bonjour = bonjour;
      const taken = await this.namesInUse(bonjour);
      if (this.closed || this.failed) return;
      const name = freeServiceName(this.ad.name, taken);
      if (name !== this.ad.name)
        this.log.warn(
          `the name "${this.ad.name}" is already used by another camera on the network: advertising as "${name}"`,
        );
      const service = bonjour.publish({
        name,
        type: REARVIEW_SERVICE_TYPE,
        protocol: 'tcp',
        // SRV points at the API; a daemon without one (API port unknown) points it at the stream.
        port: this.ad.apiPort > 0 ? this.ad.apiPort : this.ad.streamPort,
        txt: advertisementTxt(this.ad),
        probe: false, // names in use were heard above; bonjour's probe would print a stack trace and give up
        ...(this.ad.bindAddress === '0.0.0.0' ? { disableIPv6: true } : {}),
      });
      this.publishedName = name;
      service.on('error', (err: Error) => onError(err));
      this.log.info(
        `advertising "${name}" as _${REARVIEW_SERVICE_TYPE}._tcp (api ${this.ad.apiPort}, stream ${this.ad.streamPort})`,
      );
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Names of the `_rearview._tcp` services heard within probeMs. */
  private namesInUse(bonjour: BonjourLike): Promise<string[]> {
    if (this.probeMs <= 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const names: string[] = [];
      const browser = bonjour.find({ type: REARVIEW_SERVICE_TYPE, protocol: 'tcp' }, (service) => {
        if (typeof service.name === 'string') names.push(service.name);
      });
      const end = (): void => {
        clearTimeout(timer);
        this.endProbe = undefined;
        try {
          browser.stop();
        } catch {
          // the socket may already be gone (an error stopped advertising)
        }
        resolve(names);
      };
      const timer = setTimeout(end, this.probeMs);
      this.endProbe = end;
    });
  }

  /** Sends goodbye packets and releases the socket. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.endProbe?.();
    await this.starting;
    return new Promise((resolve) => {
      const bonjour = this.bonjour;
      this.bonjour = undefined;
      if (!bonjour) return resolve();
      // Goodbyes are best effort: do not hang shutdown on a dead socket.
      const timer = setTimeout(finish, 500);
      function finish(): void {
        clearTimeout(timer);
        try {
          bonjour?.destroy();
        } catch {
          // already gone
        }
        resolve();
      }
      try {
        bonjour.unpublishAll(finish);
      } catch {
        finish();
      }
    });
  }

  private shutdown(): void {
    const bonjour = this.bonjour;
    this.bonjour = undefined;
    try {
      bonjour?.destroy();
    } catch {
      // the socket may already be unusable
    }
  }
}
