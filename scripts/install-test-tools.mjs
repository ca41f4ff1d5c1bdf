#!/usr/bin/env node
// Installs the real peers the test suite runs against (ffmpeg/ffprobe/ffplay,
// GStreamer, OpenCV, Chromium, x264, curl, openssl; every tool of test/support/tools.ts)
// and /usr/bin/time for the benches, from Debian packages when they are
// missing. Under CI a tool that cannot be installed fails the run: tests never
// skip silently.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const needs = [
  {
    check: () => existsSync('/usr/bin/ffmpeg') && existsSync('/usr/bin/ffprobe') && existsSync('/usr/bin/ffplay'),
    packages: ['ffmpeg'],
  },
  // test/h264/generated-streams.test.ts encodes with the x264 command-line tool.
  { check: () => existsSync('/usr/bin/x264'), packages: ['x264'] },
  // bench/recording-cost-bench.ts measures FFmpeg's CPU time with /usr/bin/time.
  { check: () => existsSync('/usr/bin/time'), packages: ['time'] },
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
  // test/upload/upload-tls.test.ts makes a throwaway CA and server certificate.
  { check: () => existsSync('/usr/bin/openssl'), packages: ['openssl'] },
];

const missing = needs.filter((n) => !n.check()).flatMap((n) => n.packages);
if (missing.length === 0) process.exit(0);

console.log(`install-test-tools: installing ${missing.join(' ')}`);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const apt = existsSync('/usr/bin/apt-get');
// A non-root CI runner usually has password-less sudo: use it rather than fail.
const sudo =
  !isRoot &&
  existsSync('/usr/bin/sudo') &&
  spawnSync('/usr/bin/sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
if ((!isRoot && !sudo) || !apt) {
  console.error(
    `install-test-tools: cannot install ${missing.join(' ')} (need root or password-less sudo, and apt-get); install them by hand`,
  );
  process.exit(1);
}
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const aptGet = (args) =>
  sudo
    ? execFileSync('/usr/bin/sudo', ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args], {
        stdio: 'inherit',
        env,
      })
    : execFileSync('apt-get', args, { stdio: 'inherit', env });
try {
  aptGet(['update', '-qq']);
  aptGet(['install', '-y', '-qq', '--no-install-recommends', ...missing]);
} catch (err) {
  console.error(`install-test-tools: apt-get failed: ${err.message}`);
  process.exit(1);
}
const still = needs.filter((n) => !n.check()).flatMap((n) => n.packages);
if (still.length > 0) {
  console.error(`install-test-tools: still missing after install: ${still.join(' ')}`);
  process.exit(1);
}
