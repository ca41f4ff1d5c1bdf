/**
 * `rearview doctor`: checks what the camera daemon needs on this machine and
 * says what is wrong in plain words: the camera tools on PATH, the hardware
 * encoder, webcams (/dev/video*), the recordings folder (writable, free space), ports 5000/8000
 * (free, or held by a running Rearview), the clock, the button (no kernel
 * gpio-shutdown overlay in the boot config), Node itself, and on a Raspberry Pi the fuel
 * gauge and the permission to power off (doctor-board-checks.ts).
 * Exit code 0 when nothing failed (warnings allowed), 7 otherwise.
 */
import type { RearviewConfig, VideoSettings } from '../config.js';
import type { Command } from 'commander';
import { CliError, ExitCode } from './exit-codes.js';
import { colours, printJson, toCliError } from './camera-helpers.js';
import { findOnPath } from '../util/find-on-path.js';
import { CLOCK_FLOOR_MS, probeSystemTime } from '../util/camera-clock.js';
import { FFMPEG_MISSING, findFfmpeg } from '../util/ffmpeg-path.js';
import { boardChecks, type BoardCheckInputs } from './doctor-board-checks.js';

/** Outcome of one check. */
export interface DoctorCheck {
  /** Short name: 'camera tools', 'ffmpeg', 'encoder', 'webcams', 'recordings folder', 'disk space', 'stream port', 'api port', 'clock', 'button', 'node', 'device', 'fuel gauge', 'power off'. */
  name: string;
  status: 'ok' | 'warn' | 'fail';
  /** What was found, in plain words, and what to do about it. */
  message: string;
}

/** What the checks look at (from the daemon's config, overridable for tests). */
export interface DoctorInputs {
  source: string;
  recordingsDir: string;
  streamPort: number;
  apiPort: number;
  bind: string;
  minFreeBytes: number;
  /** PATH to search for tools. Default process.env.PATH. */
  path?: string;
  /** The REARVIEW_FFMPEG override. Default process.env.REARVIEW_FFMPEG. */
  ffmpegOverride?: string;
  /** The ffmpeg source's V4L2 device (`--device`), when configured. */
  captureDevice?: string | undefined;
  /** Recording and its profile (default: recording on, `separate`, the default profiles); see the `recording profile` check. */
  record?: boolean;
  recordProfile?: RearviewConfig['recordProfile'];
  gstPipeline?: string | undefined;
  video?: VideoSettings;
  recordVideo?: VideoSettings;
  /** Device nodes of the hardware encoder to look for. Default ['/dev/video11'] (Raspberry Pi bcm2835-codec). */
  encoderDevices?: string[];
  /** Folder of the device nodes searched for webcams (`video<N>`). Default '/dev'. */
  deviceDir?: string;
  /** Folder with a `video<N>/name` and `video<N>/index` per V4L2 node. Default '/sys/class/video4linux'. */
  video4linuxDir?: string;
  /** Wall clock, ms since the epoch. Default Date.now(). */
  nowMs?: number;
  /** BCM line of the button (`buttonGpio`). Default 17. */
  buttonGpio?: number;
  /** Boot config files, first readable wins. Default /boot/firmware/config.txt, /boot/config.txt. */
  bootConfigPaths?: readonly string[];
  /** The camera-board checks (device backend, fuel gauge, power off). Default: backend and gauge `auto`. */
  board?: BoardCheckInputs;
}

interface DoctorOptions {
  config?: string;
  recordings?: string;
  streamPort?: string;
  apiPort?: string;
  json?: boolean;
}

/** Registers `rearview doctor`. */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check this machine for what the camera daemon needs, in plain words')
    .option('--config <file>', 'the daemon config file to check against (recordings folder, ports, source)')
    .option('--recordings <dir>', 'recordings folder to check (default: from the config, else ./recordings)')
    .option('--stream-port <port>', 'stream port to check (default 5000)')
    .option('--api-port <port>', 'API port to check (default 8000)')
    .option('--json', 'print the checks as one JSON array')
    .addHelpText(
      'after',
      `
Examples:
  rearview doctor
  rearview doctor --config /etc/rearview/config.json
  rearview doctor --recordings /opt/velovision/standalone_videos --json

Exit codes: 0 nothing wrong (warnings allowed), 2 bad option, 7 at least one check failed.`,
    )
    .action(async (opts: DoctorOptions) => {
      let inputs: DoctorInputs;
      try {
        const { loadConfig } = await import('../config.js');
        const overrides: Record<string, string> = {};
        if (opts.recordings) overrides.recordingsDir = opts.recordings;
        if (opts.streamPort) overrides.streamPort = opts.streamPort;
        if (opts.apiPort) overrides.apiPort = opts.apiPort;
        const config = loadConfig({ file: opts.config, overrides });
        inputs = {
          source: config.source,
          captureDevice: config.captureDevice,
          record: config.record,
          recordProfile: config.recordProfile,
          gstPipeline: config.gstPipeline,
          video: config.video,
          recordVideo: config.recordVideo,
          recordingsDir: config.recordingsDir,
          streamPort: config.streamPort,
          apiPort: config.apiPort,
          bind: config.bind,
          minFreeBytes: config.minFreeBytes,
          buttonGpio: config.buttonGpio,
          board: { deviceBackend: config.deviceBackend, fuelGauge: config.fuelGauge },
        };
      } catch (err) {
        throw toCliError(err);
      }
      const checks = await runDoctor(inputs);
      if (opts.json) printJson(checks);
      else {
        const c = colours();
        const mark = { ok: c.green('ok  '), warn: c.yellow('warn'), fail: c.red('FAIL') };
        for (const check of checks)
          process.stdout.write(`${mark[check.status]}  ${check.name.padEnd(18)} ${check.message}\n`);
      }
      const failed = checks.filter((ch) => ch.status === 'fail');
      if (failed.length > 0) {
        throw new CliError(
          `${failed.length} check(s) failed: ${failed.map((f) => f.name).join(', ')}`,
          ExitCode.CHECK_FAILED,
        );
      }
    });
}

function findFirstOnPath(names: string[], pathEnv: string): string | undefined {
  for (const name of names) {
    const found = findOnPath(name, pathEnv);
    if (found) return found;
  }
  return undefined;
}

/** Tries to bind `port`; answers 'free', 'in-use' or the error code. */
async function probePort(port: number, host: string): Promise<string> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      resolve(err.code === 'EADDRINUSE' ? 'in-use' : (err.code ?? err.message)),
    );
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve('free')));
  });
}

/**
 * True when the HTTP server on `port` answers the Rearview greeting, or Rearview's 401 when it
 * requires a token (doctor does not read the token: it recognises the daemon, nothing more).
 */
async function isRearviewApi(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1500) });
    const body = (await res.text()).trim();
    if (res.status === 401) return body.startsWith('missing or wrong API token');
    return body === 'Welcome to Velovision Rearview';
  } catch {
    return false;
  }
}

/** True when the TCP server on `port` starts sending an Annex-B start code within 2 s. */
async function servesH264(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const done = (v: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), 2000);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]).subarray(0, 64);
      if (buf.indexOf(Buffer.from([0, 0, 1])) >= 0) done(true);
      else if (buf.length >= 64) done(false);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/**
 * What the recordings will be: their own profile beside the stream, or the
 * stream itself and why. The gstreamer source's two hardware encodes from one
 * camera are built from the documentation and not yet run on hardware: said
 * here as a warning until they have been.
 */
async function recordingProfileCheck(inputs: DoctorInputs): Promise<DoctorCheck | undefined> {
  if (inputs.record === false) return undefined;
  const { defaultConfig } = await import('../config.js');
  const { recordingProfileOf } = await import('../sources/create-source.js');
  const defaults = defaultConfig();
  const video = inputs.video ?? defaults.video;
  const recordVideo = inputs.recordVideo ?? defaults.recordVideo;
  const size = (v: VideoSettings): string => `${v.width}x${v.height}`;
  const source = inputs.source.trim();
  const choice = recordingProfileOf({
    source,
    recordProfile: inputs.recordProfile ?? defaults.recordProfile,
    gstPipeline: inputs.gstPipeline,
  });
  const name = 'recording profile';
  if (choice.separate && source === 'gstreamer')
    return {
      name,
      status: 'warn',
      message: `recordings ${size(recordVideo)} and the stream ${size(video)} from one camera through two v4l2h264enc (libcamerasrc pads src and src_0): not yet run on hardware; if the source fails to start, set "recordProfile": "same"`,
    };
  if (choice.separate)
    return {
      name,
      status: 'ok',
      message: `recordings ${source === 'sample' ? '1280x720 (the bundled clip)' : size(recordVideo)} beside the ${source === 'sample' ? '640x360' : size(video)} stream`,
    };
  const camera = source === 'rpicam' || source === 'gstreamer';
  return {
    name,
    status: camera ? 'warn' : 'ok',
    message: `recordings are the stream${camera ? ` (${size(video)})` : ''}${choice.note ? `: ${choice.note.split(':')[0]}` : ' (recordProfile same)'}`,
  };
}

/** Runs every check; never throws for what it finds (that is what the result says). */
export async function runDoctor(inputs: DoctorInputs): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const pathEnv = inputs.path ?? process.env.PATH ?? '';
  const { formatBytes } = await import('../util/units.js');

  // Camera tools: what the configured source runs.
  const rpicam = findFirstOnPath(['rpicam-vid', 'libcamera-vid'], pathEnv);
  const gst = findFirstOnPath(['gst-launch-1.0'], pathEnv);
  const ffmpeg = findFirstOnPath(['ffmpeg'], pathEnv);
  const needs: Record<string, [string | undefined, string]> = {
    rpicam: [rpicam, 'rpicam-vid (or libcamera-vid): install rpicam-apps (apt-get install rpicam-apps)'],
    gstreamer: [gst, 'gst-launch-1.0: install gstreamer1.0-tools and the libcamera/v4l2 plugins'],
    ffmpeg: [ffmpeg, 'ffmpeg: install it (apt-get install ffmpeg)'],
  };
  const need = needs[inputs.source];
  const found = [rpicam && `camera: ${rpicam}`, gst && `gstreamer: ${gst}`, ffmpeg && `ffmpeg: ${ffmpeg}`]
    .filter(Boolean)
    .join(', ');
  if (need && !need[0]) {
    checks.push({
      name: 'camera tools',
      status: 'fail',
      message: `the configured source "${inputs.source}" needs ${need[1]}`,
    });
  } else if (!rpicam && !need) {
    // Say every source that works here, not only the configured one: with ffmpeg a webcam or a test pattern does.
    const usable = ['sample', 'file:PATH', '- (standard input)', 'tcp://HOST:PORT (relay)'];
    if (ffmpeg) usable.push(`ffmpeg (${ffmpeg}: a webcam with --device, else a test pattern)`);
    if (gst) usable.push(`gstreamer (${gst})`);
    checks.push({
      name: 'camera tools',
      status: 'warn',
      message: `no rpicam-vid/libcamera-vid on PATH, so no Raspberry Pi camera; sources that work here: ${usable.join(', ')}`,
    });
  } else if (need && (inputs.source === 'rpicam' || inputs.source === 'gstreamer')) {
    // The camera command lines are checked argument by argument in the tests, never yet on a Pi.
    checks.push({
      name: 'camera tools',
      status: 'warn',
      message: `${found}; the ${(need[0] ?? '').split('/').pop()} command line of the "${inputs.source}" source (docs/sources.md) is not yet run on hardware: if the source does not start, the log quotes the tool's last line`,
    });
  } else {
    checks.push({ name: 'camera tools', status: 'ok', message: found || 'found' });
  }
  // Thumbnails and decode() use the daemon's locator; no ffmpeg ships with the package.
  const override = 'ffmpegOverride' in inputs ? inputs.ffmpegOverride : process.env.REARVIEW_FFMPEG;
  const { basename, dirname: parentOf } = await import('node:path');
  const thumbnailFfmpeg = findFfmpeg({ REARVIEW_FFMPEG: override, PATH: pathEnv });
  const resolved = thumbnailFfmpeg?.includes('/')
    ? findOnPath(basename(thumbnailFfmpeg), parentOf(thumbnailFfmpeg))
    : thumbnailFfmpeg && findOnPath(thumbnailFfmpeg, pathEnv);
  if (!thumbnailFfmpeg)
    checks.push({
      name: 'ffmpeg',
      status: 'warn',
      message: `thumbnails are off and decode() fails: ${FFMPEG_MISSING}`,
    });
  else if (!resolved)
    checks.push({
      name: 'ffmpeg',
      status: 'warn',
      message: `REARVIEW_FFMPEG=${thumbnailFfmpeg} is not an executable file: thumbnails will fail`,
    });
  else checks.push({ name: 'ffmpeg', status: 'ok', message: `${resolved} (thumbnails, decode())` });

  // Hardware encoder.
  const { access, constants, writeFile, unlink, statfs } = await import('node:fs/promises');
  const encoders = inputs.encoderDevices ?? ['/dev/video11'];
  const present: string[] = [];
  for (const dev of encoders)
    if (
      await access(dev, constants.R_OK | constants.W_OK).then(
        () => true,
        () => false,
      )
    )
      present.push(dev);
  if (present.length > 0)
    checks.push({ name: 'encoder', status: 'ok', message: `hardware H.264 encoder at ${present.join(', ')}` });
  else {
    const hardwareSource = inputs.source === 'rpicam' || inputs.source === 'gstreamer';
    checks.push({
      name: 'encoder',
      status: 'warn',
      message: `no hardware H.264 encoder (${encoders.join(', ')}): ${hardwareSource ? 'rpicam/gstreamer will fail or encode in software (Raspberry Pi 5 has none; on a Pi Zero 2W/3/4 check that the camera stack is installed)' : 'fine for the current source'}`,
    });
  }

  checks.push(await webcamCheck(inputs, encoders, Boolean(ffmpeg)));
  const profileCheck = await recordingProfileCheck(inputs);
  if (profileCheck) checks.push(profileCheck);

  // Recordings folder: exists and is writable, or its nearest existing parent is (the daemon creates it).
  // The check itself creates nothing but a probe file it removes at once.
  const { dirname, resolve } = await import('node:path');
  const dir = resolve(inputs.recordingsDir);
  let writable = false;
  let existing = dir;
  while (
    !(await access(existing).then(
      () => true,
      () => false,
    )) &&
    dirname(existing) !== existing
  )
    existing = dirname(existing);
  try {
    const probe = `${existing.replace(/\/+$/, '')}/.rearview-doctor-${process.pid}`;
    await writeFile(probe, 'ok');
    await unlink(probe);
    writable = true;
    checks.push({
      name: 'recordings folder',
      status: 'ok',
      message:
        existing === dir
          ? `${dir} is writable`
          : `${dir} does not exist yet; the daemon will create it (${existing} is writable)`,
    });
  } catch (err) {
    checks.push({
      name: 'recordings folder',
      status: 'fail',
      message: `${existing}: ${toCliError(err, '').message.replace(/^: /, '')}: create ${dir} and give the service user write access`,
    });
  }
  if (writable) {
    const s = await statfs(existing).catch(() => undefined);
    if (!s) checks.push({ name: 'disk space', status: 'warn', message: `cannot read the free space of ${dir}` });
    else {
      const free = s.bavail * s.bsize;
      const total = s.blocks * s.bsize;
      // One hour at the device's 8 Mbps recording rate is about 3.6 GB.
      const hourBytes = 3_600_000_000;
      if (free < inputs.minFreeBytes) {
        checks.push({
          name: 'disk space',
          status: 'fail',
          message: `only ${formatBytes(free)} free of ${formatBytes(total)} on ${dir}, below the ${formatBytes(inputs.minFreeBytes)} the recorder keeps free: it will delete old segments or stop recording`,
        });
      } else if (free < hourBytes) {
        checks.push({
          name: 'disk space',
          status: 'warn',
          message: `${formatBytes(free)} free of ${formatBytes(total)}: less than about one hour of 720p recording`,
        });
      } else {
        checks.push({
          name: 'disk space',
          status: 'ok',
          message: `${formatBytes(free)} free of ${formatBytes(total)} (about ${Math.floor(free / hourBytes)} h of 720p at 8 Mbps)`,
        });
      }
    }
  }

  // Ports: free, or held by a running Rearview.
  const apiState = await probePort(inputs.apiPort, inputs.bind);
  const apiOurs = apiState === 'in-use' && (await isRearviewApi(inputs.apiPort));
  for (const [name, port, state] of [
    ['api port', inputs.apiPort, apiState],
    ['stream port', inputs.streamPort, await probePort(inputs.streamPort, inputs.bind)],
  ] as const) {
    if (state === 'free') checks.push({ name, status: 'ok', message: `port ${port} is free` });
    else if (state === 'in-use') {
      const ours = name === 'api port' ? apiOurs : apiOurs && (await servesH264(port));
      if (ours) checks.push({ name, status: 'ok', message: `port ${port} is in use by a running Rearview` });
      else
        checks.push({
          name,
          status: 'fail',
          message: `port ${port} is taken by another program: stop it (ss -ltnp 'sport = :${port}' shows which) or choose another port`,
        });
    } else if (state === 'EACCES') {
      checks.push({
        name,
        status: 'fail',
        message: `not allowed to listen on port ${port}: ports below 1024 need root or CAP_NET_BIND_SERVICE`,
      });
    } else checks.push({ name, status: 'fail', message: `cannot listen on ${inputs.bind}:${port}: ${state}` });
  }

  // Clock: a Pi has no real-time clock. The same rule as the daemon's (src/util/camera-clock.ts, docs/api.md).
  const now = inputs.nowMs ?? Date.now();
  const facts = await probeSystemTime();
  const iso = new Date(now).toISOString();
  const fromClient =
    'the camera takes the time from the first client (the web page, CameraClient.setClock()) and re-stamps what it recorded before';
  if (facts.ntpSynchronized === true)
    checks.push({ name: 'clock', status: 'ok', message: `${iso}, synchronised with network time` });
  else if (now < CLOCK_FLOOR_MS)
    checks.push({
      name: 'clock',
      status: 'warn',
      message: `the clock says ${iso}: it was never set (no real-time clock, no network time); ${fromClient}`,
    });
  else if (facts.hasRtc === false)
    checks.push({
      name: 'clock',
      status: 'warn',
      message: `${iso}, but no real-time clock and no network time: it may be a time saved before switching off; ${fromClient}`,
    });
  else if (facts.ntpSynchronized === false)
    checks.push({
      name: 'clock',
      status: 'warn',
      message: `${iso}, but not synchronised with network time: capture-to-display latency across machines will be off`,
    });
  else checks.push({ name: 'clock', status: 'ok', message: iso });

  checks.push(await buttonCheck(inputs));

  const major = Number(process.versions.node.split('.')[0]);
  checks.push(
    major >= 20
      ? { name: 'node', status: 'ok', message: `Node.js ${process.versions.node}` }
      : { name: 'node', status: 'fail', message: `Node.js ${process.versions.node} is too old: 20 or newer is needed` },
  );
  checks.push(...(await boardChecks(inputs.board ?? { deviceBackend: 'auto', fuelGauge: 'auto' })));
  return checks;
}

/** The Raspberry Pi's own V4L2 nodes (codec, ISP, CSI receiver, HEVC decoder): not webcams. */
const PI_INTERNAL_NODE = /^(bcm2835-|rpi-|pispbe|rp1-cfe|unicam)/;

/**
 * The V4L2 capture nodes (`video<N>`) in the device folder that can be
 * webcams: not the hardware encoder, not the Pi's internal nodes, and only
 * the first node of each device (a UVC webcam adds a metadata node, index 1).
 */
async function findWebcams(
  deviceDir: string,
  video4linuxDir: string,
  encoders: string[],
): Promise<{ path: string; label: string; usable: boolean }[]> {
  const { readdir, readFile, access, constants } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const names = await readdir(deviceDir).catch(() => [] as string[]);
  const nodes = names.filter((n) => /^video\d{1,4}$/.test(n)).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  const cams: { path: string; label: string; usable: boolean }[] = [];
  for (const node of nodes) {
    const path = join(deviceDir, node);
    if (encoders.includes(path)) continue;
    const sysName = (await readFile(join(video4linuxDir, node, 'name'), 'utf8').catch(() => '')).trim().slice(0, 64);
    const index = (await readFile(join(video4linuxDir, node, 'index'), 'utf8').catch(() => '0')).trim();
    if (PI_INTERNAL_NODE.test(sysName) || index !== '0') continue;
    const usable = await access(path, constants.R_OK | constants.W_OK).then(
      () => true,
      () => false,
    );
    // The name comes from the kernel's driver; keep it printable.
    cams.push({ path, label: sysName.replace(/[^\x20-\x7e]/g, '?'), usable });
  }
  return cams;
}

/** The webcams check: what `--source ffmpeg --device` could use, and whether a configured device is there. */
async function webcamCheck(inputs: DoctorInputs, encoders: string[], hasFfmpeg: boolean): Promise<DoctorCheck> {
  const cams = await findWebcams(
    inputs.deviceDir ?? '/dev',
    inputs.video4linuxDir ?? '/sys/class/video4linux',
    encoders,
  );
  const listed = cams
    .map((c) => `${c.path}${c.label ? ` (${c.label})` : ''}${c.usable ? '' : ' (no access)'}`)
    .join(', ');
  const configured = inputs.source === 'ffmpeg' ? inputs.captureDevice : undefined;
  if (configured !== undefined) {
    const { access, constants } = await import('node:fs/promises');
    if (
      !(await access(configured, constants.F_OK).then(
        () => true,
        () => false,
      ))
    ) {
      return {
        name: 'webcams',
        status: 'fail',
        message: `the configured --device ${configured} is not there${listed ? `; found ${listed}` : ' and no /dev/video* webcam was found'}: plug it in or pick another`,
      };
    }
    if (
      !(await access(configured, constants.R_OK | constants.W_OK).then(
        () => true,
        () => false,
      ))
    ) {
      return {
        name: 'webcams',
        status: 'fail',
        message: `cannot open the configured --device ${configured}: add the service user to the "video" group`,
      };
    }
    return { name: 'webcams', status: 'ok', message: `${configured} (the configured --device)` };
  }
  if (cams.length === 0) {
    return {
      name: 'webcams',
      status: 'ok',
      message: `none (no /dev/video* capture device)${inputs.source === 'ffmpeg' ? ': the ffmpeg source makes a test pattern' : ''}`,
    };
  }
  const first = cams.find((c) => c.usable) ?? cams[0]!;
  const how = hasFfmpeg
    ? `rearview serve --source ffmpeg --device ${first.path}`
    : `install ffmpeg, then rearview serve --source ffmpeg --device ${first.path}`;
  if (!cams.some((c) => c.usable))
    return {
      name: 'webcams',
      status: 'warn',
      message: `found ${listed}, but this user cannot open it: add it to the "video" group`,
    };
  return { name: 'webcams', status: 'ok', message: `found ${listed}: ${how}` };
}

/** The button: warn when the kernel's gpio-shutdown overlay is active (it powers off by itself, and may hold the line). */
async function buttonCheck(inputs: DoctorInputs): Promise<DoctorCheck> {
  const { BOOT_CONFIG_PATHS, findGpioShutdownOverlays, readBootConfig } = await import('../device/boot-config.js');
  const paths = inputs.bootConfigPaths ?? BOOT_CONFIG_PATHS;
  const line = inputs.buttonGpio ?? 17;
  const boot = readBootConfig(paths);
  if (!boot)
    return { name: 'button', status: 'ok', message: `no boot config (${paths.join(', ')}): not a Raspberry Pi` };
  const overlays = findGpioShutdownOverlays(boot.text, boot.file);
  if (overlays.length === 0)
    return {
      name: 'button',
      status: 'ok',
      message: `no gpio-shutdown overlay in ${boot.file}: the daemon watches the button on GPIO ${line}`,
    };
  const where = overlays
    .map((o) => `${o.file} line ${o.line} (GPIO ${o.pin}, active ${o.activeLow ? 'low' : 'high'})`)
    .join(', ');
  const holdsOurs = overlays.some((o) => o.pin === line);
  return {
    name: 'button',
    status: 'warn',
    message: `dtoverlay=gpio-shutdown is active in ${where}: the kernel powers off on its own at a single press${holdsOurs ? `, and it holds GPIO ${line}, so the daemon cannot see the button (no short presses, no long-press shutdown)` : ''}; the daemon handles the button itself: remove that line and reboot`,
  };
}
