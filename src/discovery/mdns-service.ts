/**
 * The daemon's mDNS service: advertises this camera as `_rearview._tcp`
 * (mdns-advertiser.ts) with the ports it really bound, when `config.mdns`
 * is true (default; `--no-mdns` turns it off). Never fails daemon start-up:
 * a machine without multicast just is not advertised (logged once).
 */
import type { RearviewConfig } from '../config.js';
import type { Logger } from '../log/logger.js';
import { packageVersion } from '../util/package-version.js';
import { MdnsAdvertiser, type BonjourLike } from './mdns-advertiser.js';

/** What the service needs from the daemon (RearviewDaemon has it). */
export interface MdnsServiceHost {
  readonly config: RearviewConfig;
  readonly logger: Logger;
  /** Where the TCP stream really listens (port 0 resolved); undefined before it started. */
  readonly streamAddress: { port: number } | undefined;
  /** Where the HTTP API really listens; undefined before it started. */
  readonly apiAddress: { port: number } | undefined;
}

/** DaemonService wrapper of MdnsAdvertiser; start it after the API so the real API port is known. */
export class MdnsService {
  readonly name = 'mdns';
  private advertiser: MdnsAdvertiser | undefined;

  constructor(
    private readonly daemon: MdnsServiceHost,
    private readonly options: { createBonjour?: (onError: (err: Error) => void) => BonjourLike } = {},
  ) {}

  /**
   * Starts advertising in the background (it first listens a moment for the
   * name in use) so daemon start-up does not wait for it. Never rejects.
   */
  async start(): Promise<void> {
    if (this.advertiser) return;
    const { config } = this.daemon;
    const version = packageVersion();
    this.advertiser = new MdnsAdvertiser(
      {
        name: config.cameraName,
        streamPort: this.daemon.streamAddress?.port ?? config.streamPort,
        apiPort: this.daemon.apiAddress?.port ?? config.apiPort,
        width: config.video.width,
        height: config.video.height,
        fps: config.video.fps,
        ...(version ? { version } : {}),
        bindAddress: config.bind,
      },
      {
        logger: this.daemon.logger,
        ...(this.options.createBonjour ? { createBonjour: this.options.createBonjour } : {}),
      },
    );
    void this.advertiser.start(); // never rejects: failures are logged
  }

  /** The name advertised (the configured one, or `name (2)`... when it was taken); undefined until published. */
  get advertisedName(): string | undefined {
    return this.advertiser?.publishedName;
  }

  /** Sends goodbyes and releases the socket. Idempotent. */
  async close(): Promise<void> {
    await this.advertiser?.close();
  }
}
