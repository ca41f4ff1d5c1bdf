/**
 * The uploader as a daemon service, built from the config (`upload`,
 * `uploadEndpoint`, ...: docs/config.md). The daemon imports this module
 * only when `upload` is set, so a camera that does not upload never loads
 * it. It plugs into the recorder (RecorderEvents: segments finished,
 * re-stamped, deleted; and the retention rule's uploadState) and reads the
 * charging state from the device layer.
 */
import { randomBytes } from 'node:crypto';
import { parseUploadEndpoint, parseUploadTarget, type RearviewConfig } from '../config.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { RecorderEvents } from '../recorder/recorder.js';
import type { UploadState } from '../recorder/retention.js';
import { CLOCK_FLOOR_MS } from '../util/camera-clock.js';
import { S3Client } from './s3-client.js';
import type { S3Credentials } from './sigv4.js';
import { readUploadCa } from './upload-ca.js';
import { loadUploadCredentials, type CredentialSource } from './upload-credentials.js';
import { Uploader, type FinishedSegment, type UploaderStatus } from './uploader.js';

/** What the service needs from the daemon. */
export interface UploadServiceHost {
  readonly config: RearviewConfig;
  readonly logger: Logger;
  /** Environment for the AWS_* credentials (rearview serve passes process.env). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Charging or not; null when unknown (no device yet). */
  isCharging(): Promise<boolean | null>;
  /** Segments repaired at start-up (the recorder's), queued like finished ones. */
  repairedSegments?(): Promise<FinishedSegment[]>;
  /** A moment keeps this segment (never deleted after its upload). */
  isProtected?(name: string): boolean;
  /** Resolves once the recorder's thumbnail of segment `name` is made, failed or dropped. */
  thumbnailSettled?(name: string): Promise<void>;
}

/** The upload settings as shown by `GET /api/v1/settings` and the status: nothing that names a host, a path or a key. */
export interface UploadSettingsView {
  enabled: true;
  /** `s3://BUCKET/***`. */
  target: string;
  /** `***` (custom endpoint) or `aws`. */
  endpoint: string;
  region: string;
  pathStyle: boolean;
  insecure: boolean;
  sse: RearviewConfig['uploadSse'];
  when: RearviewConfig['uploadWhen'];
  rateBytesPerSecond: number;
  thenDelete: boolean;
  queueMax: number;
  partBytes: number;
  /** Where the credentials come from, or `missing`; never the values. */
  credentials: CredentialSource | 'missing';
  /** Whether extra CA certificates are trusted (`uploadCa`); never the path. */
  customCa: boolean;
}

/** DaemonService of the uploader; find it as `daemon.services.find((s) => s.name === 'upload')`. */
export class UploadService {
  readonly name = 'upload';
  readonly uploader: Uploader;
  readonly settings: UploadSettingsView;
  private readonly logger: Logger;

  constructor(private readonly host: UploadServiceHost) {
    const { config } = host;
    this.logger = host.logger;
    const target = parseUploadTarget(config.upload as string);
    const endpoint = config.uploadEndpoint
      ? parseUploadEndpoint(config.uploadEndpoint)
      : new URL(`https://s3.${config.uploadRegion}.amazonaws.com`);
    // Credentials and the CA file are read once here; a failure does not stop the daemon (recording
    // matters more): the uploader sends nothing and its status says why (state failing, lastError).
    let credentials: S3Credentials | undefined;
    let unusable: { code: ErrorCode; message: string } | undefined;
    let source: CredentialSource | 'missing' = 'missing';
    try {
      const loaded = loadUploadCredentials(config.uploadCredentialsFile, host.env, config.uploadCredentialsProfile);
      credentials = loaded.credentials;
      source = loaded.source;
    } catch (err) {
      unusable = { code: 'ERR_UPLOAD_CREDENTIALS', message: `uploads cannot run: ${(err as Error).message}` };
      this.logger.error(unusable.message);
    }
    let ca: string | undefined;
    if (config.uploadCa !== undefined) {
      try {
        ca = readUploadCa(config.uploadCa);
      } catch (err) {
        unusable ??= { code: 'ERR_UPLOAD_CA', message: `uploads cannot run: ${(err as Error).message}` };
        this.logger.error(`uploads cannot run: ${(err as Error).message}`);
      }
    }
    const masked = `s3://${target.bucket}/***`;
    this.settings = {
      enabled: true,
      target: masked,
      endpoint: config.uploadEndpoint ? '***' : 'aws',
      region: config.uploadRegion,
      pathStyle: config.uploadPathStyle,
      insecure: config.uploadInsecure,
      sse: config.uploadSse,
      when: config.uploadWhen,
      rateBytesPerSecond: config.uploadRateBytes,
      thenDelete: config.uploadThenDelete,
      queueMax: config.uploadQueueMax,
      partBytes: config.uploadPartBytes,
      credentials: source,
      customCa: config.uploadCa !== undefined,
    };
    const client = new S3Client({
      endpoint,
      bucket: target.bucket,
      region: config.uploadRegion,
      pathStyle: config.uploadPathStyle,
      credentials: () => {
        if (!credentials) throw new Error('no upload credentials');
        return credentials;
      },
      ca,
    });
    this.uploader = new Uploader({
      dir: config.recordingsDir,
      client,
      target: masked,
      prefix: target.prefix,
      cameraName: config.cameraName,
      partBytes: config.uploadPartBytes,
      rateBytesPerSecond: config.uploadRateBytes,
      when: config.uploadWhen,
      isCharging: () => host.isCharging(),
      thenDelete: config.uploadThenDelete,
      isProtected: (name) => host.isProtected?.(name) ?? false,
      thumbnailSettled: host.thumbnailSettled
        ? (name) => host.thumbnailSettled?.(name) ?? Promise.resolve()
        : undefined,
      unusable,
      queueMax: config.uploadQueueMax,
      sse: config.uploadSse === 'none' ? undefined : config.uploadSse,
      runId: `${process.pid}-${randomBytes(4).toString('hex')}`,
      logger: this.logger,
    });
  }

  /** The recorder's hooks: finished, re-stamped and deleted segments reach the queue. */
  get recorderEvents(): RecorderEvents {
    return {
      onSegmentFinished: (s) => this.uploader.enqueue(s),
      onSegmentRestamped: (name, startedAtMs) => this.uploader.restamped(name, startedAtMs),
      onSegmentsDeleted: (names) => this.uploader.deleted(names),
      onSegmentRenamed: (from, to) => this.uploader.renamed(from, to),
    };
  }

  /** For the retention rule. */
  uploadState(name: string): UploadState {
    return this.uploader.uploadState(name);
  }

  /** For the retention rule: queued segments go oldest first in the queue's order. */
  uploadOrder(name: string): number | undefined {
    return this.uploader.queuePosition(name);
  }

  get status(): UploaderStatus {
    return this.uploader.status;
  }

  async start(): Promise<void> {
    await this.uploader.start();
    this.logger.info(
      `uploading finished segments to ${this.settings.target} (${this.settings.when === 'charging' ? 'while charging' : 'always'}${this.settings.rateBytesPerSecond > 0 ? `, at most ${this.settings.rateBytesPerSecond} bytes/s` : ''})`,
    );
    // A segment cut by a crash and repaired at start-up was recorded with uploads on: queue it too.
    for (const seg of (await this.host.repairedSegments?.().catch(() => [])) ?? []) {
      if (this.uploader.uploadState(seg.name) !== 'none') continue;
      this.uploader.enqueue(seg.startedAtMs < CLOCK_FLOOR_MS ? { ...seg, clock: 'undated' } : seg);
    }
  }

  async close(): Promise<void> {
    await this.uploader.close();
  }
}
