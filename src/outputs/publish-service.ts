/**
 * The daemon service of `publish`: one Publisher per configured target,
 * reading the stream hub or (with `#profile=record`) the recording hub. The
 * daemon imports this module only when `publish` is not empty, so a camera
 * that publishes nothing loads none of it; WHIP targets (whip-publisher.ts)
 * are imported only when one is configured.
 */
import type { RearviewConfig } from '../config.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../util/clock.js';
import { findOnPath } from '../util/find-on-path.js';
import { parsePublishTarget } from '../util/publish-url.js';
import { Publisher, type PublisherStatus } from './publisher.js';

/** What the service asks of a publisher of either kind (ffmpeg child or WHIP). */
interface AnyPublisher {
  start(): void;
  close(): Promise<void>;
  status(): PublisherStatus;
}

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
  private readonly publishers: AnyPublisher[] = [];

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
    const targets = config.publish.map((text) => parsePublishTarget(text)); // validated when the config loaded; parsed again for the secrets
    const whip = targets.some((t) => t.scheme === 'whip+http' || t.scheme === 'whip+https')
      ? await import('./whip-publisher.js')
      : undefined;
    const reader = {
      softLimitBytes: config.clientSoftLimitBytes,
      softLimitMs: config.clientSoftLimitMs,
      hardLimitMs: config.clientHardLimitMs,
    };
    const connectTimeout =
      this.options.connectTimeoutMs !== undefined ? { connectTimeoutMs: this.options.connectTimeoutMs } : {};
    targets.forEach((target, index) => {
      const hub = target.profile === 'record' ? this.host.recordingHub : this.host.hub;
      if (whip && (target.scheme === 'whip+http' || target.scheme === 'whip+https')) {
        this.publishers.push(
          new whip.WhipPublisher({
            target,
            index,
            name: this.fleetName,
            hub,
            caFile: config.publishCa,
            iceServers: config.webrtcIceServers,
            reader,
            ...connectTimeout,
            logger,
            clock: this.host.cameraClock,
          }),
        );
        return;
      }
      const publisher = new Publisher({
        target,
        index,
        name: this.fleetName,
        hub,
        findFfmpeg,
        caFile: config.publishCa,
        reader,
        ...connectTimeout,
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
