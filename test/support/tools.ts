/**
 * External tools the tests use as real peers (ffmpeg, ffprobe, GStreamer,
 * OpenCV, Chromium). `scripts/install-test-tools.mjs` installs them before
 * the suite runs; tests call `requireTool` so a missing tool is a failure,
 * never a silent skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Absolute paths of the tools, as installed from Debian packages. */
export const tools = {
  ffmpeg: '/usr/bin/ffmpeg',
  ffprobe: '/usr/bin/ffprobe',
  gstLaunch: '/usr/bin/gst-launch-1.0',
  chromium: '/usr/bin/chromium',
  /** Debian's python3, which has python3-opencv (a pyenv python on PATH may not). */
  python3: '/usr/bin/python3',
  x264: '/usr/bin/x264',
  /** HTTP API tests talk to the server with plain curl, as the device's docs do. */
  curl: '/usr/bin/curl',
  /** TLS terminator in front of the publishing tests' servers (Debian's stunnel4). */
  stunnel: '/usr/bin/stunnel4',
  /** Throwaway CAs and server certificates of the TLS publishing and upload tests. */
  openssl: '/usr/bin/openssl',
} as const;

/** Throws a clear error when a tool is missing (the install step should have put it there). */
export function requireTool(name: keyof typeof tools): string {
  const path = tools[name];
  if (!existsSync(path)) {
    throw new Error(`${name} is missing at ${path}: run "node scripts/install-test-tools.mjs" (npm test does)`);
  }
  return path;
}

/** True when Debian's python3 can import cv2. */
export function hasOpenCv(): boolean {
  const r = spawnSync(tools.python3, ['-c', 'import cv2'], { stdio: 'ignore' });
  return r.status === 0;
}
