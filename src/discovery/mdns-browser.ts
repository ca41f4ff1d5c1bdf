/**
 * Finds Rearview cameras on the LAN over mDNS/DNS-SD (`_rearview._tcp`, see
 * mdns-advertiser.ts for the TXT records). Used by `discover()` in the client
 * library and by `rearview discover`.
 */
import type { Service } from 'bonjour-service';
import { createBonjour, REARVIEW_SERVICE_TYPE, type BonjourLike } from './mdns-advertiser.js';

/** A camera heard on the network. */
export interface DiscoveredCamera {
  /** Advertised instance name. */
  name: string;
  /** mDNS host name, e.g. `velovision-rearview.local`. */
  host: string;
  /** IP addresses from the A/AAAA records, IPv4 first. */
  addresses: string[];
  /** HTTP API port (TXT `api`, else the SRV port). */
  apiPort: number;
  /** Raw H.264 stream port (TXT `stream`), default 5000 when absent. */
  streamPort: number;
  /** `tcp://address:streamPort`, ready for connect(). */
  streamUrl: string;
  /** `http://address:apiPort`, ready for new CameraClient(). */
  apiUrl: string;
  model: string | undefined;
  /** Video size as advertised (`640x360`), when present. */
  resolution: string | undefined;
  version: string | undefined;
  /** Every TXT record as strings. */
  txt: Record<string, string>;
}

/** Options of {@link discover}. */
export interface DiscoverOptions {
  /** How long to listen, in ms. Default 2000. */
  timeoutMs?: number;
  /** Called for each camera as soon as it is heard. */
  onCamera?: (camera: DiscoveredCamera) => void;
  /** Stops listening early; resolves with what was found so far. */
  signal?: AbortSignal;
  /** Bonjour factory (tests). Default bonjour-service. */
  createBonjour?: (onError: (err: Error) => void) => BonjourLike;
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** Converts a bonjour-service record into a DiscoveredCamera. */
export function cameraFromService(
  service: Pick<Service, 'name' | 'host' | 'port' | 'addresses' | 'txt'>,
): DiscoveredCamera {
  const txt: Record<string, string> = {};
  for (const [k, v] of Object.entries((service.txt ?? {}) as Record<string, unknown>))
    txt[k] = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  const addresses = [...(service.addresses ?? [])].sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')));
  const streamPort = Number(txt.stream) > 0 ? Number(txt.stream) : 5000;
  const apiPort = Number(txt.api) > 0 ? Number(txt.api) : service.port || 8000;
  const target = addresses[0] ?? service.host;
  return {
    name: service.name,
    host: service.host,
    addresses,
    apiPort,
    streamPort,
    streamUrl: `tcp://${hostForUrl(target)}:${streamPort}`,
    apiUrl: `http://${hostForUrl(target)}:${apiPort}`,
    model: txt.model,
    resolution: txt.res,
    version: txt.version,
    txt,
  };
}

/**
 * Listens for `timeoutMs` (default 2 s) and resolves with the cameras heard,
 * one entry per instance name. Rejects only when mDNS cannot be used at all
 * (no multicast socket), with the socket's error.
 */
export function discover(options: DiscoverOptions = {}): Promise<DiscoveredCamera[]> {
  const timeoutMs = options.timeoutMs ?? 2000;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0)
    throw new RangeError(`timeoutMs must be a non-negative number, got ${timeoutMs}`);
  return new Promise((resolve, reject) => {
    const found = new Map<string, DiscoveredCamera>();
    let done = false;
    let bonjour: BonjourLike | undefined;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      try {
        bonjour?.destroy();
      } catch {
        // socket already closed
      }
      if (err && found.size === 0) reject(err);
      else resolve([...found.values()]);
    };
    const onAbort = (): void => finish();
    const timer = setTimeout(() => finish(), timeoutMs);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) return finish();
    try {
      bonjour = (options.createBonjour ?? createBonjour)((err) => finish(err));
      bonjour.find({ type: REARVIEW_SERVICE_TYPE, protocol: 'tcp' }, (service) => {
        if (done) return;
        const camera = cameraFromService(service);
        const known = found.has(camera.name);
        found.set(camera.name, camera);
        if (!known) options.onCamera?.(camera);
      });
    } catch (err) {
      finish(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
