/**
 * The daemon service of `publish`: one Publisher per configured target,
 * reading the stream hub or (with `#profile=record`) the recording hub. The
 * daemon imports this module only when `publish` is not empty, so a camera
 * that publishes nothing loads none of it.
 */
import type { RearviewConfig } from '../config.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../util/clock.js';
import { findOnPath } from '../util/find-on-path.js';
import { parsePublishTarget } from '../util/publish-url.js';
import { Publisher, type PublisherStatus } from './publisher.js';

/** What the service needs from the daemon. */
export interface PublishServiceHost {
  readonly config: RearviewConfig;
  readonly logger: Logger;
  readonly hub: StreamHub;
  readonly recordingHub: StreamHub;
  readonly cameraClock: Clock;
}

/** Options of {@link PublishService}. */
export interface PublishServiceOptions {
  /** `{name}` in the targets (src/util/fleet-name.ts). */
  fleetName: string;
  /** Environment of ffmpeg and where it is looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** See PublisherOptions.connectTimeoutMs. */
  connectTimeoutMs?: number;
}

/** See the file comment. Find it as `daemon.services.find((s) => s.name === 'publish')`. */
export class PublishService {
  readonly name = 'publish';
  /** `{name}` in the targets: the camera name, with a device suffix when it is the default. */
  readonly fleetName: string;
  private readonly publishers: Publisher[] = [];

  constructor(
    private readonly host: PublishServiceHost,
    private readonly options: PublishServiceOptions,
  ) {
    this.fleetName = options.fleetName;
  }

  async start(): Promise<void> {
    const { config } = this.host;
    const env = this.options.env ?? process.env;
    // Looked up for every run, so installing ffmpeg later needs no restart.
    const findFfmpeg = (): string | undefined =>
      env.REARVIEW_FFMPEG ? env.REARVIEW_FFMPEG : findOnPath('ffmpeg', env.PATH) ? 'ffmpeg' : undefined;
    const logger = this.host.logger.child('publish');
    config.publish.forEach((text, index) => {
      const target = parsePublishTarget(text); // validated when the config loaded; parsed again for the secrets
      const publisher = new Publisher({
        target,
        index,
        name: this.fleetName,
        hub: target.profile === 'record' ? this.host.recordingHub : this.host.hub,
        findFfmpeg,
        caFile: config.publishCa,
        reader: {
          softLimitBytes: config.clientSoftLimitBytes,
          softLimitMs: config.clientSoftLimitMs,
          hardLimitMs: config.clientHardLimitMs,
        },
        ...(this.options.connectTimeoutMs !== undefined ? { connectTimeoutMs: this.options.connectTimeoutMs } : {}),
        logger,
        clock: this.host.cameraClock,
        env,
      });
      this.publishers.push(publisher);
    });
    for (const p of this.publishers) p.start();
  }

  /** Every publisher's figures, in the order of `publish`. */
  status(): PublisherStatus[] {
    return this.publishers.map((p) => p.status());
  }

  async close(): Promise<void> {
    await Promise.all(this.publishers.map((p) => p.close()));
  }
}
