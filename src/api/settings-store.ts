/**
 * `GET/PATCH /api/v1/settings`: the settings a user may change at run time,
 * validated with `mergeConfig`, persisted and applied.
 *
 * Where they are persisted: the config file given with `--config` when there
 * is one (only the changed keys are rewritten; the rest of the file is kept),
 * otherwise `rearview-settings.json` in the parent folder of the recordings
 * folder (beside it, so a wipe of recordings never deletes settings). The
 * daemon reads that default file at start-up (see `readPersistedSettings`).
 */
import { closeSync, constants, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { mergeConfig, readConfigFile, type ConfigInput, type RearviewConfig } from '../config.js';
import { ConfigError, RearviewError } from '../errors.js';
import { maskedIceServers } from '../util/ice-servers.js';
import { makeDirectory } from '../util/make-directory.js';
import type {
  SettingsApplyResult,
  SettingsDocument,
  SettingsPatch,
  SettingsPatchResult,
  UploadSettingsDocument,
} from './wire-types.js';
import { parsePublishTarget } from '../util/publish-url.js';

export type { SettingsApplyResult, SettingsPatchResult } from './wire-types.js';

/** Top-level keys PATCH accepts (besides `video` and `resolution`). */
export const SETTABLE_KEYS = [
  'segmentMs',
  'streamWindowMs',
  'maxFiles',
  'maxBytes',
  'minFreeBytes',
  'minFreePercent',
  'record',
  'join',
  'timestamps',
  'cameraName',
] as const;

/** Video keys PATCH accepts, in `video` and in `recordVideo`; changing any of them restarts the source. */
export const SETTABLE_VIDEO_KEYS = ['width', 'height', 'fps', 'bitrateBps', 'intraPeriod', 'profile', 'level'] as const;

// The wire type of a PATCH body names exactly these keys (a compile error here when they drift apart).
type SettablePatchKey = (typeof SETTABLE_KEYS)[number] | 'resolution' | 'video' | 'recordVideo';
const patchKeysMatch: [
  Exclude<SettablePatchKey, keyof SettingsPatch>,
  Exclude<keyof SettingsPatch, SettablePatchKey>,
] extends [never, never]
  ? true
  : never = true;
void patchKeysMatch;

/**
 * Default settings file when there is no --config: `.rearview-settings.json`
 * inside the recordings folder itself, so it never lands in the folder's
 * parent (the checkout, the OS temp dir, the SD card's root). The library
 * lists only `log%04d.mkv` and wipe deletes only segments and their
 * thumbnails, so neither sees it.
 */
export function defaultSettingsPath(recordingsDir: string): string {
  return join(resolve(recordingsDir), SETTINGS_FILE_NAME);
}

/** Name of the settings file inside the recordings folder (hidden: not a recording). */
export const SETTINGS_FILE_NAME = '.rearview-settings.json';

/** Largest settings file read from the recordings folder (a real one is a few hundred bytes). */
const MAX_SETTINGS_FILE_BYTES = 64 * 1024;

/**
 * Reads the settings file saved in the recordings folder (for the daemon at
 * start-up), else {} when there is none. That folder is not trusted (an SD
 * card, anything the recorder's user can write), so the file is opened once
 * without following a link, must be a small regular file, and may hold only
 * the keys PATCH can set: a `source` or `gstPipeline` in it is refused
 * (ConfigError), never run. Values are validated by mergeConfig as usual.
 */
export function readPersistedSettings(path: string): ConfigInput {
  const doc = readSettingsDocument(path);
  return doc === undefined
    ? {}
    : settableInput(
        doc,
        (key) =>
          `${key} cannot be set in ${path} (it holds only settings changed over the API; put it in a --config file)`,
      );
}

/** The JSON object in the settings file, or undefined when there is none. */
function readSettingsDocument(path: string): unknown {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    // No saved settings: none yet, or the recordings folder is missing or not a folder (the recorder
    // reports that one loudly as NOT RECORDING; the stream must still start).
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ConfigError(`cannot read settings file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new ConfigError(`settings file ${path} is not a regular file`);
    if (stat.size > MAX_SETTINGS_FILE_BYTES)
      throw new ConfigError(`settings file ${path} is larger than ${MAX_SETTINGS_FILE_BYTES} bytes`);
    const buf = Buffer.alloc(stat.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    const parsed: unknown = JSON.parse(buf.subarray(0, got).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('top level must be an object');
    return parsed;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`settings file ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}

/** Options of SettingsStore. */
export interface SettingsStoreOptions {
  /** Current config (read on every request). */
  get: () => RearviewConfig;
  /** Applies a validated config (daemon: store it, restart the source when `sourceChanged`). */
  apply: (next: RearviewConfig, changedKeys: string[], sourceChanged: boolean) => Promise<SettingsApplyResult>;
  /** The --config file, if any. */
  configFile?: string | undefined;
  /** The upload settings, masked (read-only: config file and command line only). */
  upload?: () => UploadSettingsDocument | null;
}

/** Validates, persists and applies settings changes; one PATCH at a time. */
export class SettingsStore {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: SettingsStoreOptions) {}

  /** The file changes are written to. */
  get path(): string {
    return this.options.configFile ?? defaultSettingsPath(this.options.get().recordingsDir);
  }

  view(config = this.options.get()): SettingsDocument {
    return {
      resolution: `${config.video.width}x${config.video.height}`,
      video: { ...config.video },
      recordVideo: { ...config.recordVideo },
      segmentMs: config.segmentMs,
      streamWindowMs: config.streamWindowMs,
      maxFiles: config.maxFiles,
      maxBytes: config.maxBytes,
      minFreeBytes: config.minFreeBytes,
      minFreePercent: config.minFreePercent,
      record: config.record,
      join: config.join,
      timestamps: config.timestamps,
      cameraName: config.cameraName,
      // Read-only, masked: no LAN client may see or redirect where the video goes.
      publish: config.publish.map((url) => parsePublishTarget(url).masked),
      webrtcIceServers: maskedIceServers(config.webrtcIceServers),
      settingsFile: this.path,
      upload: this.options.upload?.() ?? null,
    };
  }

  /**
   * Validates `patch` (unknown or read-only keys, bad values: ConfigError),
   * writes it to the settings file, applies it. Resolves to the new view.
   */
  patch(patch: unknown): Promise<SettingsPatchResult> {
    const run = this.queue.then(() => this.doPatch(patch));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async doPatch(patch: unknown): Promise<SettingsPatchResult> {
    const input = settableInput(patch, (key) =>
      // Where the video goes: never from a client on the camera's network.
      key === 'publish' || key === 'publishCa'
        ? `${key} cannot be changed over HTTP: set it in the config file or on the command line`
        : `${key} cannot be changed at run time (settable: resolution, video.{${SETTABLE_VIDEO_KEYS.join(',')}}, recordVideo.{${SETTABLE_VIDEO_KEYS.join(',')}}, ${SETTABLE_KEYS.join(', ')})`,
    );
    const current = this.options.get();
    // The one validation of every value (config.ts): the same closed sets and ranges as the config file and the command line.
    const next = mergeConfig(current, input);
    const changed: string[] = [];
    for (const k of SETTABLE_VIDEO_KEYS) if (next.video[k] !== current.video[k]) changed.push(`video.${k}`);
    for (const k of SETTABLE_VIDEO_KEYS)
      if (next.recordVideo[k] !== current.recordVideo[k]) changed.push(`recordVideo.${k}`);
    for (const k of SETTABLE_KEYS) if (next[k] !== current[k]) changed.push(k);
    if (changed.length > 0) await this.persist(next, changed);
    // One source encodes both profiles: a change of either restarts it.
    const sourceChanged = changed.some((k) => k.startsWith('video.') || k.startsWith('recordVideo.'));
    const applied =
      changed.length > 0 ? await this.options.apply(next, changed, sourceChanged) : { restartedSource: false };
    return { ...this.view(next), applied, changed, restartRequired: applied.restartRequired ?? [] };
  }

  private async persist(next: RearviewConfig, changed: string[]): Promise<void> {
    const path = this.path;
    // The --config file is the operator's (any key); the one in the recordings folder is read like at start-up.
    const existing =
      this.options.configFile !== undefined
        ? existsSync(path)
          ? readConfigFile(path)
          : {}
        : readSettingsDocument(path);
    const doc = (existing ?? {}) as Record<string, unknown>;
    for (const key of changed) {
      const profileKey = key.startsWith('video.')
        ? 'video'
        : key.startsWith('recordVideo.')
          ? 'recordVideo'
          : undefined;
      if (profileKey) {
        const vk = key.slice(profileKey.length + 1) as keyof RearviewConfig['video'];
        const existingProfile = doc[profileKey];
        const video = (
          typeof existingProfile === 'object' && existingProfile !== null ? existingProfile : {}
        ) as Record<string, unknown>;
        video[vk] = next[profileKey][vk];
        doc[profileKey] = video;
      } else {
        const value = next[key as keyof RearviewConfig];
        // Durations are written with their unit ("30000ms"): unambiguous for a reader of the file.
        doc[key] = key.endsWith('Ms') && typeof value === 'number' ? `${value}ms` : value;
      }
    }
    // Write then rename: a power cut never leaves a half-written config.
    // 'wx' creates the file and never follows a link planted at its name; rename replaces a link at `path` itself.
    // Mode 0600: a config file may name or hold the API token.
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      await makeDirectory(dirname(path));
      await rm(tmp, { force: true });
      await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined); // best effort: the error below is what matters
      throw settingsWriteError(path, err);
    }
  }
}

/**
 * Turns a PATCH body (or the saved settings file) into a ConfigInput with only
 * settable keys; `refused(key)` is the message for any other key. Free-form
 * keys (`source`, `gstPipeline`, `captureDevice`, paths, token, ...) are never
 * settable, so nothing reaching a command line or a path comes from here.
 */
function settableInput(patch: unknown, refused: (key: string) => string): ConfigInput {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
    throw new ConfigError('settings: expected a JSON object');
  const out: Record<string, unknown> = {};
  const video: Record<string, unknown> = {};
  const recordVideo: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (key === 'resolution') {
      const m = typeof value === 'string' ? /^(\d{1,5})x(\d{1,5})$/.exec(value) : null;
      if (!m) throw new ConfigError(`resolution: expected WIDTHxHEIGHT (e.g. 1280x720), got ${JSON.stringify(value)}`);
      video.width = Number(m[1]);
      video.height = Number(m[2]);
    } else if (key === 'video' || key === 'recordVideo') {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new ConfigError(`${key}: expected an object`);
      const target = key === 'video' ? video : recordVideo;
      for (const [vk, vv] of Object.entries(value as Record<string, unknown>)) {
        if (!(SETTABLE_VIDEO_KEYS as readonly string[]).includes(vk)) throw new ConfigError(refused(`${key}.${vk}`));
        target[vk] = vv;
      }
    } else if (key === 'settingsFile' || (key === 'upload' && (value === null || typeof value === 'object'))) {
      // Where the settings are saved, and the read-only upload view (as GET shows them): ignored in a PATCH
      // body, so a client may send back what it read. Upload settings are never changed here.
    } else if ((SETTABLE_KEYS as readonly string[]).includes(key)) {
      // A JSON number on a key named ...Ms means milliseconds (as in mergeConfig); made explicit here.
      out[key] = key.endsWith('Ms') && typeof value === 'number' ? `${value}ms` : value;
    } else {
      throw new ConfigError(refused(key));
    }
  }
  if (Object.keys(video).length > 0) out.video = video;
  if (Object.keys(recordVideo).length > 0) out.recordVideo = recordVideo;
  return out as ConfigInput;
}

/** Why the settings file could not be written, in words (the device's disk is read-only, full, ...). */
const WRITE_FAILURES: Record<string, string> = {
  EROFS: 'the filesystem is read-only',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EIO: 'an I/O error (failing card?)',
};

/** ERR_SETTINGS_WRITE for a failed save: nothing was changed. */
function settingsWriteError(path: string, err: unknown): RearviewError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = (code && WRITE_FAILURES[code]) ?? (err as Error).message ?? String(err);
  return new RearviewError(
    'ERR_SETTINGS_WRITE',
    `cannot save settings to ${path}: ${why}${code ? ` (${code})` : ''}; nothing was changed`,
    { cause: err },
  );
}
