/**
 * deploy/install.sh before it changes anything (run with the real bash, a fake `dpkg` and a fake
 * `apt-get` that records being called), the unit it installs, and `serve --check-config`, the check
 * a new release makes of the kept config before the installer switches to it. The full install runs
 * in emulated arm64 Debian roots: `npm run test:deploy` (docs/deploy.md).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliPath, repoRoot, scratchDir } from '../support/paths.js';

const INSTALL = join(repoRoot, 'deploy', 'install.sh');

/** Runs install.sh with `dpkg --print-architecture` answering `arch`; apt-get only leaves a mark. */
function install(arch: string, args: string[]): { code: number | null; out: string; aptCalled: boolean } {
  const s = scratchDir('rearview-install-');
  try {
    const bin = join(s.dir, 'bin');
    mkdirSync(bin);
    const mark = join(s.dir, 'apt-called');
    writeFileSync(join(bin, 'dpkg'), `#!/bin/sh\necho ${arch}\n`);
    writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\ntouch '${mark}'\nexit 1\n`);
    chmodSync(join(bin, 'dpkg'), 0o755);
    chmodSync(join(bin, 'apt-get'), 0o755);
    const r = spawnSync('bash', [INSTALL, ...args], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
    });
    return { code: r.status, out: r.stdout + r.stderr, aptCalled: existsSync(mark) };
  } finally {
    s.cleanup();
  }
}

describe('install.sh: refuses before changing anything', () => {
  for (const arch of ['armhf', 'armel', 'amd64']) {
    it(`stops on ${arch} with a clear message and exit 1`, () => {
      const r = install(arch, ['--no-start', 'whatever.tgz']);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, new RegExp(`this system is ${arch}; Rearview installs only on 64-bit \\(arm64\\)`));
      assert.match(r.out, /node-datachannel, for WebRTC\) ship no build for/);
      assert.equal(r.aptCalled, false, 'nothing installed');
    });
  }

  it('on arm64: a missing tarball, or one that is not a Rearview release, is exit 2 before apt-get', {
    skip: process.getuid?.() !== 0 && 'needs root (the script checks it first)',
  }, () => {
    const missing = install('arm64', ['--no-start', '/nonexistent/rearview-1.0.0.tgz']);
    assert.equal(missing.code, 2, missing.out);
    assert.match(missing.out, /\/nonexistent\/rearview-1\.0\.0\.tgz is not a file/);
    const s = scratchDir('rearview-install-');
    try {
      const notRelease = join(s.dir, 'rearview-1.0.0.tgz');
      writeFileSync(notRelease, 'not a tarball');
      const r = install('arm64', ['--no-start', notRelease]);
      assert.equal(r.code, 2, r.out);
      assert.match(r.out, /is not a release tarball \(no package\/package\.json\); make one with npm run release/);
      assert.equal(r.aptCalled, false);
    } finally {
      s.cleanup();
    }
  });

  it('an unknown option is exit 2 with the usage', () => {
    const r = install('arm64', ['--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.out, /unknown option --bogus/);
    assert.match(
      r.out,
      /sudo \.\/install\.sh \[--hostname NAME\] \[--no-start\] \[--no-token\] \[rearview-VERSION\.tgz\]/,
    );
  });
});

describe('the systemd unit', () => {
  it('runs the current release with the Node the installer chose, as a plain argument list', () => {
    const unit = readFileSync(join(repoRoot, 'deploy', 'rearview.service'), 'utf8');
    const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1];
    assert.equal(
      exec,
      '/opt/rearview/bin/node /opt/rearview/current/dist/src/cli/main.js serve --config /etc/rearview/config.json',
    );
    // npm run test:deploy splits this line on spaces to run it in a root without systemd.
    assert.doesNotMatch(exec ?? '', /["'\\$]/);
    assert.match(unit, /^WorkingDirectory=\/opt\/rearview\/current$/m);
    assert.match(unit, /^User=rearview$/m);
  });
});

describe('serve --check-config (the upgrade check)', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [cliPath, 'serve', ...args], { encoding: 'utf8' });

  it('accepts the configs every earlier installer wrote, starting nothing', () => {
    const s = scratchDir('rearview-config-');
    try {
      // The first installers (source rpicam, one profile) and the two-profile one, as written.
      const first = {
        source: 'rpicam',
        streamPort: 5000,
        apiPort: 8000,
        bind: '0.0.0.0',
        recordingsDir: '/opt/velovision/standalone_videos',
        segmentMs: '60s',
        maxFiles: 900,
        mode: 'simultaneous',
        mdns: true,
        cameraName: 'velovision-rearview',
        video: { width: 640, height: 360, fps: 30, bitrateBps: '1M', intraPeriod: 30 },
      };
      const token = join(s.dir, 'api-token');
      writeFileSync(token, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
      const twoProfiles = {
        ...first,
        source: 'gstreamer',
        apiTokenFile: token,
        recordProfile: 'separate',
        recordVideo: { width: 1280, height: 720, fps: 30, bitrateBps: '8M', intraPeriod: 30, profile: 'high' },
      };
      for (const [name, config] of [
        ['first.json', first],
        ['two-profiles.json', twoProfiles],
      ] as const) {
        const file = join(s.dir, name);
        writeFileSync(file, JSON.stringify(config, null, 2));
        const r = run(['--config', file, '--check-config']);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, `config ok: ${file} (source ${config.source})\n`);
      }
    } finally {
      s.cleanup();
    }
  });

  it('refuses a setting this release does not know with one line and exit 2', () => {
    const s = scratchDir('rearview-config-');
    try {
      const file = join(s.dir, 'config.json');
      writeFileSync(file, JSON.stringify({ source: 'rpicam', frobnicate: true }));
      const r = run(['--config', file, '--check-config']);
      assert.equal(r.status, 2);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /unknown setting frobnicate/);
    } finally {
      s.cleanup();
    }
  });
});
