#!/usr/bin/env node
// Installs the real peers the test suite runs against (ffmpeg, GStreamer,
// OpenCV, Chromium) from Debian packages when they are missing. Under CI a
// tool that cannot be installed fails the run: tests never skip silently.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const needs = [
  { check: () => existsSync('/usr/bin/ffmpeg') && existsSync('/usr/bin/ffprobe'), packages: ['ffmpeg'] },
  {
    check: () =>
      existsSync('/usr/bin/gst-launch-1.0') &&
      spawnSync('/usr/bin/gst-inspect-1.0', ['avdec_h264'], { stdio: 'ignore' }).status === 0 &&
      spawnSync('/usr/bin/gst-inspect-1.0', ['h264parse'], { stdio: 'ignore' }).status === 0 &&
      spawnSync('/usr/bin/gst-inspect-1.0', ['tcpserversink'], { stdio: 'ignore' }).status === 0,
    packages: [
      'gstreamer1.0-tools',
      'gstreamer1.0-plugins-base',
      'gstreamer1.0-plugins-good',
      'gstreamer1.0-plugins-bad',
      'gstreamer1.0-libav',
    ],
  },
  {
    check: () => spawnSync('/usr/bin/python3', ['-c', 'import cv2'], { stdio: 'ignore' }).status === 0,
    packages: ['python3-opencv'],
  },
  { check: () => existsSync('/usr/bin/chromium'), packages: ['chromium'] },
  { check: () => existsSync('/usr/bin/curl'), packages: ['curl'] },
];

const missing = needs.filter((n) => !n.check()).flatMap((n) => n.packages);
if (missing.length === 0) process.exit(0);

console.log(`install-test-tools: installing ${missing.join(' ')}`);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const apt = existsSync('/usr/bin/apt-get');
if (!isRoot || !apt) {
  console.error(`install-test-tools: cannot install ${missing.join(' ')} (need root and apt-get); install them by hand`);
  process.exit(1);
}
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
try {
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
} catch (err) {
  console.error(`install-test-tools: apt-get failed: ${err.message}`);
  process.exit(1);
}
const still = needs.filter((n) => !n.check()).flatMap((n) => n.packages);
if (still.length > 0) {
  console.error(`install-test-tools: still missing after install: ${still.join(' ')}`);
  process.exit(1);
}
