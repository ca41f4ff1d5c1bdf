// Fake libgpiod tools (gpiomon, gpioset, gpioget, gpiodetect) for the GPIO tests, in the v1
// (Bookworm) or v2 (Trixie) flavour chosen by FAKE_GPIOD_VERSION. They check their command line
// the way the real tools do (v1: options then `<chip> <offset>...`; v2: `-c <chip>` and offsets),
// record every start and exit in $FAKE_GPIOD_DIR/calls.jsonl, and hold a line the way the kernel
// does: a second holder of the same line fails with "Device or resource busy".
//   gpioget     prints the level in $FAKE_GPIOD_DIR/level-<offset> (default 0)
//   gpiomon     listens on $FAKE_GPIOD_DIR/gpiomon-<offset>.sock; each "rising"/"falling" line a
//               test sends becomes one `%e` line (1 rising; falling 0 in v1, 2 in v2). v1 without
//               --line-buffered keeps its output until it exits, as a block-buffered pipe does.
//   gpioset     writes the level to level-<offset>; v2 and v1 --mode=signal stay until SIGTERM
//   gpiodetect  prints $FAKE_GPIOD_DIR/gpiodetect, or a Raspberry Pi's two chips
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [tool, ...args] = process.argv.slice(2);
const dir = process.env.FAKE_GPIOD_DIR;
const version = process.env.FAKE_GPIOD_VERSION === '1' ? 1 : 2;
if (!dir) {
  process.stderr.write('FAKE_GPIOD_DIR is not set\n');
  process.exit(2);
}
const record = (entry) =>
  appendFileSync(join(dir, 'calls.jsonl'), `${JSON.stringify({ tool, pid: process.pid, ...entry })}\n`);
const die = (message) => {
  process.stderr.write(`${tool}: ${message}\n`);
  record({ event: 'failed', message });
  process.exit(1);
};

record({ event: 'start', args });

if (args[0] === '--version' || args[0] === '-v') {
  process.stdout.write(`${tool} (libgpiod) v${version === 1 ? '1.6.3' : '2.2.1'}\n`);
  process.exit(0);
}
if (tool === 'gpiodetect') {
  const file = join(dir, 'gpiodetect');
  process.stdout.write(
    existsSync(file)
      ? readFileSync(file, 'utf8')
      : 'gpiochip0 [pinctrl-bcm2835] (54 lines)\ngpiochip1 [raspberrypi-exp-gpio] (8 lines)\n',
  );
  process.exit(0);
}

// Options each tool takes (with a value: true), per version; anything else is refused.
const OPTIONS = {
  1: {
    gpiomon: { '--bias': true, '--line-buffered': false, '--format': true, '--num-events': true },
    gpioset: { '--bias': true, '--mode': true, '--drive': true },
    gpioget: { '--bias': true, '--active-low': false },
  },
  2: {
    gpiomon: { '-c': true, '--bias': true, '--consumer': true, '--format': true, '--debounce-period': true },
    gpioset: { '-c': true, '--consumer': true, '-t': true, '--toggle': true, '--bias': true },
    gpioget: { '-c': true, '--bias': true, '--numeric': false },
  },
};
const BIAS = { 1: ['as-is', 'disable', 'pull-down', 'pull-up'], 2: ['disabled', 'pull-down', 'pull-up'] };

const known = OPTIONS[version][tool];
if (!known) die(`unknown tool`);
const opts = {};
const positional = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (positional.length > 0 || !a.startsWith('-')) {
    // v1 stops at the first operand (getopt "+"); v2 too.
    positional.push(a);
    continue;
  }
  const eq = a.indexOf('=');
  const name = eq > 0 ? a.slice(0, eq) : a;
  if (!(name in known)) die(`unrecognized option '${a}'`);
  if (known[name]) {
    if (eq > 0) opts[name] = a.slice(eq + 1);
    else if (i + 1 < args.length) opts[name] = args[++i];
    else die(`option '${name}' requires an argument`);
  } else opts[name] = true;
}
if (opts['--bias'] !== undefined && !BIAS[version].includes(opts['--bias'])) die(`invalid bias: ${opts['--bias']}`);

let chip;
let lines;
if (version === 1) {
  chip = positional[0];
  lines = positional.slice(1);
  if (!chip) die('gpiochip must be specified');
} else {
  chip = opts['-c'];
  lines = positional;
  if (!chip) die(`cannot find line '${lines[0]}'`);
}
if (!/^gpiochip\d+$/.test(chip)) die(`cannot find GPIO chip character device '${chip}'`);
if (lines.length !== 1) die('the fake handles exactly one line');
let offset = lines[0];
let value;
if (tool === 'gpioset') {
  const m = /^(\d+)=([01])$/.exec(offset);
  if (!m) die(`invalid offset<->value mapping: ${offset}`);
  offset = m[1];
  value = m[2];
}
if (!/^\d+$/.test(offset) || Number(offset) > 53) die(`invalid GPIO offset: ${offset}`);

// The kernel gives a line to one holder at a time.
const lock = join(dir, `held-${chip}-${offset}`);
if (existsSync(lock)) {
  const holder = Number(readFileSync(lock, 'utf8'));
  let alive = false;
  try {
    process.kill(holder, 0);
    alive = true;
  } catch {
    alive = false;
  }
  if (alive) die('error requesting GPIO lines: Device or resource busy');
}
writeFileSync(lock, String(process.pid));
let output = '';
const release = () => {
  try {
    if (readFileSync(lock, 'utf8') === String(process.pid)) rmSync(lock);
  } catch {
    // already gone
  }
};
const exit = (code) => {
  if (output) process.stdout.write(output);
  release();
  record({ event: 'exit' });
  process.exit(code);
};
process.on('SIGTERM', () => exit(0));
process.on('SIGINT', () => exit(0));

const levelFile = join(dir, `level-${offset}`);
if (tool === 'gpioget') {
  const level = existsSync(levelFile) ? readFileSync(levelFile, 'utf8').trim() : '0';
  process.stdout.write(
    version === 2 && !opts['--numeric'] ? `"${offset}"=${level === '1' ? 'active' : 'inactive'}\n` : `${level}\n`,
  );
  release();
  process.exit(0);
}
if (tool === 'gpioset') {
  writeFileSync(levelFile, value);
  if (version === 1 && opts['--mode'] !== 'signal') {
    release();
    process.exit(0);
  }
  setInterval(() => undefined, 1 << 30);
}
if (tool === 'gpiomon') {
  const buffered = version === 1 && !opts['--line-buffered'];
  const socket = join(dir, `gpiomon-${offset}.sock`);
  rmSync(socket, { force: true });
  const server = createServer((conn) => {
    createInterface({ input: conn }).on('line', (edge) => {
      const e = edge.trim() === 'rising' ? '1' : version === 1 ? '0' : '2';
      const text = `${opts['--format'] === '%e' ? e : `event: ${edge}`}\n`;
      if (buffered) output += text;
      else process.stdout.write(text);
    });
  });
  server.listen(socket, () => record({ event: 'listening', socket }));
}
