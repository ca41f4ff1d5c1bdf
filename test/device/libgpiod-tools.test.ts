/**
 * libgpiod's two command syntaxes as exact argument arrays (v1: Bookworm,
 * v2: Trixie), the parsing of their output, the refusal of anything but a
 * BCM line number, and finding the tools and the Pi's chip against the fake
 * tools of each version.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../../src/errors.js';
import {
  checkLine,
  detectLibgpiod,
  gpiogetArgs,
  gpiomonArgs,
  gpiosetArgs,
  parseGpiodetect,
  parseGpiogetLevel,
  parseGpiomonEdge,
  parseLibgpiodVersion,
} from '../../src/device/libgpiod-tools.js';
import { fakeGpiod, noGpiodEnv } from '../support/fake-gpiod.js';

const v1 = { version: 1, chip: 'gpiochip0' } as const;
const v2 = { version: 2, chip: 'gpiochip0' } as const;

describe('libgpiod command lines', () => {
  it('gpiomon: v1 positional chip with --line-buffered, v2 -c; both stream %e', () => {
    assert.deepEqual(gpiomonArgs(v1, 17, 'down'), [
      '--bias=pull-down',
      '--line-buffered',
      '--format=%e',
      'gpiochip0',
      '17',
    ]);
    assert.deepEqual(gpiomonArgs(v2, 17, 'down'), [
      '-c',
      'gpiochip0',
      '--bias',
      'pull-down',
      '--consumer',
      'rearview-button',
      '--format',
      '%e',
      '17',
    ]);
    assert.deepEqual(gpiomonArgs(v1, 4, 'off')[0], '--bias=disable');
    assert.deepEqual(gpiomonArgs(v2, 4, 'off').slice(2, 4), ['--bias', 'disabled']);
    assert.deepEqual(gpiomonArgs(v2, 4, 'up').slice(2, 4), ['--bias', 'pull-up']);
  });

  it('gpioset: v1 holds with --mode=signal and cannot toggle; v2 holds by itself and plays -t', () => {
    assert.deepEqual(gpiosetArgs(v1, 21, 1), ['--mode=signal', 'gpiochip0', '21=1']);
    assert.throws(
      () => gpiosetArgs(v1, 21, 1, [100, 1000]),
      (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'),
    );
    assert.deepEqual(gpiosetArgs(v2, 21, 0), ['-c', 'gpiochip0', '--consumer', 'rearview-led', '21=0']);
    assert.deepEqual(gpiosetArgs(v2, 21, 1, [1200, 100]), [
      '-c',
      'gpiochip0',
      '--consumer',
      'rearview-led',
      '-t',
      '1200ms,100ms',
      '21=1',
    ]);
    for (const bad of [[], [100], [100, 0], [100, 1.5], [100, 4_000_000]])
      assert.throws(
        () => gpiosetArgs(v2, 21, 1, bad),
        (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'),
        String(bad),
      );
  });

  it('gpioget: v1 positional, v2 -c with --numeric; the bias only when asked', () => {
    assert.deepEqual(gpiogetArgs(v1, 17, 'down'), ['--bias=pull-down', 'gpiochip0', '17']);
    assert.deepEqual(gpiogetArgs(v1, 27, undefined), ['gpiochip0', '27']);
    assert.deepEqual(gpiogetArgs(v2, 17, 'down'), ['-c', 'gpiochip0', '--bias', 'pull-down', '--numeric', '17']);
    assert.deepEqual(gpiogetArgs(v2, 27, undefined), ['-c', 'gpiochip0', '--numeric', '27']);
  });

  it('only BCM lines 0-53 and gpiochip<N> names reach a command line', () => {
    for (const bad of [-1, 54, 1.5, Number.NaN, 1e9])
      assert.throws(
        () => gpiomonArgs(v2, bad, 'down'),
        (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'),
        String(bad),
      );
    assert.equal(checkLine(0), 0);
    assert.equal(checkLine(53), 53);
    assert.throws(
      () => gpiosetArgs({ version: 2, chip: 'gpiochip0;reboot' }, 21, 1),
      (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'),
    );
  });

  it('parses versions, gpiodetect, gpiomon edges and gpioget levels of both versions', () => {
    assert.deepEqual(parseLibgpiodVersion('gpioset (libgpiod) v1.6.3\nCopyright ...'), { version: 1, text: '1.6.3' });
    assert.deepEqual(parseLibgpiodVersion('gpioset (libgpiod) v2.2.1\n'), { version: 2, text: '2.2.1' });
    assert.equal(parseLibgpiodVersion('gpioset (libgpiod) v3.0\n'), undefined);
    assert.equal(parseLibgpiodVersion('gpioset from somewhere else\n'), undefined);
    assert.deepEqual(
      parseGpiodetect('gpiochip0 [pinctrl-bcm2835] (54 lines)\ngpiochip1 [raspberrypi-exp-gpio] (8 lines)\n'),
      {
        chip: 'gpiochip0',
        label: 'pinctrl-bcm2835',
      },
    );
    assert.deepEqual(
      parseGpiodetect('gpiochip0 [gpio-brcmstb@107d508500] (32 lines)\ngpiochip4 [pinctrl-rp1] (54 lines)\n'),
      {
        chip: 'gpiochip4',
        label: 'pinctrl-rp1',
      },
    );
    assert.equal(parseGpiodetect('gpiochip0 [INT34C5:00] (463 lines)\n'), undefined);
    assert.equal(parseGpiomonEdge(1, '1'), 1);
    assert.equal(parseGpiomonEdge(1, '0'), 0);
    assert.equal(parseGpiomonEdge(1, '2'), undefined);
    assert.equal(parseGpiomonEdge(2, '1'), 1);
    assert.equal(parseGpiomonEdge(2, '2'), 0);
    assert.equal(parseGpiomonEdge(2, '0'), undefined);
    assert.equal(parseGpiomonEdge(2, 'event: rising'), undefined);
    assert.equal(parseGpiogetLevel('1\n'), 1);
    assert.equal(parseGpiogetLevel('0\n'), 0);
    assert.equal(parseGpiogetLevel('"17"=active\n'), 1);
    assert.equal(parseGpiogetLevel('"17"=inactive\n'), 0);
    assert.equal(parseGpiogetLevel('garbage'), undefined);
  });
});

describe('finding the tools', () => {
  for (const version of [1, 2] as const) {
    it(`v${version}: version from gpioset --version, the Pi's chip from gpiodetect`, async () => {
      const fake = fakeGpiod(version);
      try {
        const found = await detectLibgpiod(fake.env);
        assert.ok(found.tools, 'found');
        assert.equal(found.tools.version, version);
        assert.equal(found.tools.versionText, version === 1 ? '1.6.3' : '2.2.1');
        assert.equal(found.tools.chip, 'gpiochip0');
        assert.equal(found.tools.chipLabel, 'pinctrl-bcm2835');
      } finally {
        fake.cleanup();
      }
    });
  }

  it('missing tools, or no Raspberry Pi chip, is a reason, not an error', async () => {
    const missing = await detectLibgpiod(noGpiodEnv());
    assert.equal(missing.tools, undefined);
    assert.match((missing as { reason: string }).reason, /not installed.*apt-get install gpiod/);
    const laptop = fakeGpiod(2, { gpiodetect: 'gpiochip0 [INT34C5:00] (463 lines)\n' });
    try {
      const found = await detectLibgpiod(laptop.env);
      assert.equal(found.tools, undefined);
      assert.match((found as { reason: string }).reason, /no Raspberry Pi pin controller/);
      const assumed = await detectLibgpiod(laptop.env, 'gpiochip0');
      assert.equal(assumed.tools?.chip, 'gpiochip0', 'assumed when told to (backend linux)');
    } finally {
      laptop.cleanup();
    }
  });
});
