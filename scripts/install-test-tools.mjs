#!/usr/bin/env node
// Installs the real peers the test suite runs against (ffmpeg/ffprobe/ffplay,
// GStreamer, OpenCV, Chromium, x264, curl, openssl; every tool of test/support/tools.ts;
// Firefox ESR, WebKitGTK's WebKitWebDriver and MiniBrowser, and Xvfb for the
// browser-engine tests of test/web/browser-engines.ts)
// and /usr/bin/time for the benches, from Debian packages when they are
// missing. Under CI a tool that cannot be installed fails the run: tests never
// skip silently.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's multiarch folder name (x86_64-linux-gnu, aarch64-linux-gnu). */
function multiarch() {
  const r = spawnSync('/usr/bin/dpkg-architecture', ['-qDEB_HOST_MULTIARCH'], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  return process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
}

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
  // Firefox is driven over WebDriver BiDi by puppeteer-core (no geckodriver needed).
  { check: () => existsSync('/usr/bin/firefox-esr'), packages: ['firefox-esr'] },
  // WebKitWebDriver starts WebKitGTK's MiniBrowser (in libwebkit2gtk-4.1-0) on an Xvfb display.
  {
    check: () =>
      existsSync('/usr/bin/WebKitWebDriver') &&
      existsSync(`/usr/lib/${multiarch()}/webkit2gtk-4.1/MiniBrowser`) &&
      existsSync('/usr/bin/Xvfb'),
    packages: ['webkit2gtk-driver', 'libwebkit2gtk-4.1-0', 'xvfb'],
  },
  { check: () => existsSync('/usr/bin/curl'), packages: ['curl'] },
  // test/outputs/publish-*.test.ts: a TLS terminator in front of the RTMP server, certificates made with openssl.
  { check: () => existsSync('/usr/bin/stunnel4'), packages: ['stunnel4'] },
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
