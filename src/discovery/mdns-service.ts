/**
 * The daemon's mDNS service: advertises this camera as `_rearview._tcp`
 * (mdns-advertiser.ts) with the ports it really bound, when `config.mdns`
 * is true (default; `--no-mdns` turns it off). Never fails daemon start-up:
 * a machine without multicast just is not advertised (logged once).
 */
import { readFileSync } from 'node:fs';
import type { DaemonService, RearviewDaemon } from '../daemon.js';
import { MdnsAdvertiser, type BonjourLike } from './mdns-advertiser.js';

function packageVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** DaemonService wrapper of MdnsAdvertiser; start it after the API so the real API port is known. */
export class MdnsService implements DaemonService {
  readonly name = 'mdns';
  private advertiser: MdnsAdvertiser | undefined;

  constructor(
    private readonly daemon: Pick<RearviewDaemon, 'config' | 'logger' | 'streamAddress' | 'apiAddress'>,
    private readonly options: { createBonjour?: (onError: (err: Error) => void) => BonjourLike } = {},
  ) {}

  /** Publishes the advertisement. Resolves even when multicast is unavailable. */
  async start(): Promise<void> {
    if (this.advertiser) return;
    const { config } = this.daemon;
    this.advertiser = new MdnsAdvertiser(
      {
        name: config.cameraName,
        streamPort: this.daemon.streamAddress?.port ?? config.streamPort,
        apiPort: this.daemon.apiAddress?.port ?? config.apiPort,
        width: config.video.width,
        height: config.video.height,
        fps: config.video.fps,
        ...(packageVersion() ? { version: packageVersion() as string } : {}),
      },
      { logger: this.daemon.logger, ...(this.options.createBonjour ? { createBonjour: this.options.createBonjour } : {}) },
    );
    await this.advertiser.start();
  }

  /** Sends goodbyes and releases the socket. Idempotent. */
  async close(): Promise<void> {
    await this.advertiser?.close();
  }
}
