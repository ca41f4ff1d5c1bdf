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
import { existsSync } from 'node:fs';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { mergeConfig, readConfigFile, type ConfigInput, type RearviewConfig } from '../config.js';
import { ConfigError } from '../errors.js';

/** Top-level keys PATCH accepts (besides `video` and `resolution`). */
export const SETTABLE_KEYS = [
  'segmentMs', 'streamWindowMs', 'maxFiles', 'maxBytes', 'minFreeBytes', 'minFreePercent',
  'record', 'join', 'timestamps', 'cameraName',
] as const;

/** Video keys PATCH accepts; changing any of them restarts the source. */
export const SETTABLE_VIDEO_KEYS = ['width', 'height', 'fps', 'bitrateBps', 'intraPeriod', 'profile', 'level'] as const;

/** The settings document (GET answer). */
export interface SettingsView {
  /** "640x360". */
  resolution: string;
  video: RearviewConfig['video'];
  segmentMs: number;
  streamWindowMs: number;
  maxFiles: number;
  maxBytes: number;
  minFreeBytes: number;
  minFreePercent: number;
  record: boolean;
  join: RearviewConfig['join'];
  timestamps: boolean;
  cameraName: string;
  /** Where changes are saved. */
  settingsFile: string;
}

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

/** Reads the persisted settings file when it exists (for the daemon at start-up), else {}. */
export function readPersistedSettings(path: string): ConfigInput {
  return existsSync(path) ? readConfigFile(path) : {};
}

/** What applying changed settings did. */
export interface SettingsApplyResult {
  restartedSource: boolean;
  /**
   * Changed keys saved but not applied to the running daemon: they take
   * effect at the next start (e.g. `timestamps`, `cameraName`). Default [].
   */
  restartRequired?: string[];
}

/** The PATCH answer: the new settings, what changed, what was applied and what waits for a restart. */
export type SettingsPatchResult = SettingsView & { applied: SettingsApplyResult; changed: string[]; restartRequired: string[] };

/** Options of SettingsStore. */
export interface SettingsStoreOptions {
  /** Current config (read on every request). */
  get: () => RearviewConfig;
  /** Applies a validated config (daemon: store it, restart the source when `sourceChanged`). */
  apply: (next: RearviewConfig, changedKeys: string[], sourceChanged: boolean) => Promise<SettingsApplyResult>;
  /** The --config file, if any. */
  configFile?: string | undefined;
}

/** Validates, persists and applies settings changes; one PATCH at a time. */
export class SettingsStore {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: SettingsStoreOptions) {}

  /** The file changes are written to. */
  get path(): string {
    return this.options.configFile ?? defaultSettingsPath(this.options.get().recordingsDir);
  }

  view(config = this.options.get()): SettingsView {
    return {
      resolution: `${config.video.width}x${config.video.height}`,
      video: { ...config.video },
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
      settingsFile: this.path,
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
    const input = toConfigInput(patch);
    const current = this.options.get();
    const next = mergeConfig(current, input);
    checkSane(next);
    const changed: string[] = [];
    for (const k of SETTABLE_VIDEO_KEYS) if (next.video[k] !== current.video[k]) changed.push(`video.${k}`);
    for (const k of SETTABLE_KEYS) if (next[k] !== current[k]) changed.push(k);
    if (changed.length > 0) await this.persist(next, changed);
    const sourceChanged = changed.some((k) => k.startsWith('video.'));
    const applied = changed.length > 0 ? await this.options.apply(next, changed, sourceChanged) : { restartedSource: false };
    return { ...this.view(next), applied, changed, restartRequired: applied.restartRequired ?? [] };
  }

  private async persist(next: RearviewConfig, changed: string[]): Promise<void> {
    const path = this.path;
    const doc = (existsSync(path) ? readConfigFile(path) : {}) as Record<string, unknown>;
    for (const key of changed) {
      if (key.startsWith('video.')) {
        const vk = key.slice(6) as keyof RearviewConfig['video'];
        const video = (typeof doc.video === 'object' && doc.video !== null ? doc.video : {}) as Record<string, unknown>;
        video[vk] = next.video[vk];
        doc.video = video;
      } else {
        const value = next[key as keyof RearviewConfig];
        // Durations are written with their unit ("30000ms"): unambiguous for a reader of the file.
        doc[key] = key.endsWith('Ms') && typeof value === 'number' ? `${value}ms` : value;
      }
    }
    await mkdir(dirname(path), { recursive: true });
    // Write then rename: a power cut never leaves a half-written config.
    // Mode 0600: a config file may name or hold the API token. A fresh file
    // (exclusive create) so a link planted under the temporary name is not followed.
    const tmp = `${path}.${process.pid}.tmp`;
    await unlink(tmp).catch(() => undefined);
    await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await rename(tmp, path);
  }
}

/** Turns a PATCH body into a ConfigInput with only settable keys. */
function toConfigInput(patch: unknown): ConfigInput {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new ConfigError('settings: expected a JSON object');
  const out: Record<string, unknown> = {};
  const video: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (key === 'resolution') {
      const m = typeof value === 'string' ? /^(\d+)x(\d+)$/.exec(value.trim()) : null;
      if (!m) throw new ConfigError(`resolution: expected WIDTHxHEIGHT (e.g. 1280x720), got ${JSON.stringify(value)}`);
      video.width = Number(m[1]);
      video.height = Number(m[2]);
    } else if (key === 'video') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError('video: expected an object');
      for (const [vk, vv] of Object.entries(value as Record<string, unknown>)) {
        if (!(SETTABLE_VIDEO_KEYS as readonly string[]).includes(vk)) throw new ConfigError(`video.${vk} cannot be changed here`);
        video[vk] = vv;
      }
    } else if (key === 'settingsFile') {
      // read-only, echoed back by GET: accepted and ignored
    } else if ((SETTABLE_KEYS as readonly string[]).includes(key)) {
      // A JSON number on a key named ...Ms means milliseconds (as in mergeConfig); made explicit here.
      out[key] = key.endsWith('Ms') && typeof value === 'number' ? `${value}ms` : value;
    } else {
      throw new ConfigError(`${key} cannot be changed at run time (settable: resolution, video.{${SETTABLE_VIDEO_KEYS.join(',')}}, ${SETTABLE_KEYS.join(', ')})`);
    }
  }
  if (Object.keys(video).length > 0) out.video = video;
  return out as ConfigInput;
}

/** Checks mergeConfig leaves to us: sizes an encoder accepts. */
function checkSane(config: RearviewConfig): void {
  const v = config.video;
  if (v.width < 16 || v.height < 16 || v.width > 4096 || v.height > 4096 || v.width % 2 || v.height % 2) {
    throw new ConfigError(`resolution: ${v.width}x${v.height} is not an even size between 16 and 4096`);
  }
  if (v.fps < 1 || v.fps > 120) throw new ConfigError(`video.fps: ${v.fps} is outside 1..120`);
  if (v.bitrateBps < 10_000) throw new ConfigError(`video.bitrateBps: ${v.bitrateBps} is below 10 kbit/s`);
  if (v.intraPeriod < 1) throw new ConfigError('video.intraPeriod: must be at least 1');
  if (config.segmentMs < 1000) throw new ConfigError(`segmentMs: ${config.segmentMs} ms is below 1 s`);
  if (config.streamWindowMs < 1000) throw new ConfigError(`streamWindowMs: ${config.streamWindowMs} ms is below 1 s`);
  if (config.minFreePercent > 100) throw new ConfigError('minFreePercent: above 100');
}
