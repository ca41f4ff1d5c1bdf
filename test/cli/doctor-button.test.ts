/**
 * `rearview doctor` warns when the kernel's gpio-shutdown overlay is active
 * in the boot config (it powers off by itself and may hold the button's
 * line). The config.txt rules that decide "active": comments, model filters,
 * dtparam lines after the overlay, include files. Boot config paths are
 * scratch files here.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runDoctor, type DoctorInputs } from '../../src/cli/doctor-command.js';
import { findGpioShutdownOverlays } from '../../src/device/boot-config.js';
import { scratchDir } from '../support/paths.js';

describe('gpio-shutdown in config.txt', () => {
  const find = (text: string, files: Record<string, string> = {}) =>
    findGpioShutdownOverlays(text, '/boot/firmware/config.txt', (p) => files[p]).map(
      ({ line, pin, activeLow, file }) => ({
        file,
        line,
        pin,
        activeLow,
      }),
    );

  it('finds the overlay with its defaults (GPIO 3, active low) and its parameters', () => {
    assert.deepEqual(find('dtparam=audio=on\ndtoverlay=gpio-shutdown\n'), [
      { file: '/boot/firmware/config.txt', line: 2, pin: 3, activeLow: true },
    ]);
    assert.deepEqual(find('dtoverlay=gpio-shutdown,gpio_pin=17,active_low=0\n'), [
      { file: '/boot/firmware/config.txt', line: 1, pin: 17, activeLow: false },
    ]);
    assert.deepEqual(
      find('dtoverlay=gpio-shutdown\ndtparam=gpio_pin=17\ndtoverlay=vc4-kms-v3d\ndtparam=gpio_pin=4\n'),
      [{ file: '/boot/firmware/config.txt', line: 1, pin: 17, activeLow: true }],
    );
  });

  it('ignores comments, other overlays and filters that cannot match a Zero 2 W', () => {
    assert.deepEqual(find('#dtoverlay=gpio-shutdown\n  # dtoverlay=gpio-shutdown,gpio_pin=17\n'), []);
    assert.deepEqual(find('dtoverlay=gpio-shutdownx\ndtoverlay=gpio-poweroff\n'), []);
    assert.deepEqual(find('[pi4]\ndtoverlay=gpio-shutdown\n[none]\ndtoverlay=gpio-shutdown\n'), []);
    assert.equal(find('[pi4]\narm_boost=1\n[all]\ndtoverlay=gpio-shutdown\n').length, 1, '[all] ends the filter');
    assert.equal(find('[pi02]\ndtoverlay=gpio-shutdown\n').length, 1);
    assert.equal(find('[gpio4=1]\ndtoverlay=gpio-shutdown # a comment\n').length, 1, 'other filters may match');
  });

  it('follows include files next to config.txt', () => {
    const found = find('include extra.txt\n', { '/boot/firmware/extra.txt': 'dtoverlay=gpio-shutdown,gpio_pin=17\n' });
    assert.deepEqual(found, [{ file: '/boot/firmware/extra.txt', line: 1, pin: 17, activeLow: true }]);
    assert.deepEqual(find('include ../etc/passwd\n', { '/boot/etc/passwd': 'dtoverlay=gpio-shutdown\n' }), []);
  });
});

describe('rearview doctor: the button check', () => {
  function inputs(dir: string, bootConfigPaths: string[]): DoctorInputs {
    return {
      source: 'sample',
      recordingsDir: join(dir, 'recordings'),
      streamPort: 0,
      apiPort: 0,
      bind: '127.0.0.1',
      minFreeBytes: 0,
      path: join(dir, 'bin'),
      ffmpegOverride: undefined,
      encoderDevices: [join(dir, 'video11')],
      deviceDir: join(dir, 'dev'),
      video4linuxDir: join(dir, 'sys'),
      bootConfigPaths,
    };
  }

  it('warns when the overlay is active, says when it holds the button line, ok without it', async () => {
    const s = scratchDir('rearview-doctor-boot-');
    try {
      mkdirSync(join(s.dir, 'firmware'));
      const firmware = join(s.dir, 'firmware', 'config.txt');
      const old = join(s.dir, 'config.txt');
      writeFileSync(old, 'dtoverlay=gpio-shutdown\n');
      writeFileSync(firmware, '[all]\ndtoverlay=gpio-shutdown,gpio_pin=17,active_low=0\n');
      let button = (await runDoctor(inputs(s.dir, [firmware, old]))).find((c) => c.name === 'button');
      assert.equal(button?.status, 'warn');
      assert.match(
        button!.message,
        /dtoverlay=gpio-shutdown is active in .*firmware\/config\.txt line 2 \(GPIO 17, active high\)/,
      );
      assert.match(button!.message, /holds GPIO 17/);
      assert.match(button!.message, /remove that line/);

      writeFileSync(firmware, 'dtparam=i2c_arm=on\n');
      button = (await runDoctor(inputs(s.dir, [firmware, old]))).find((c) => c.name === 'button');
      assert.equal(button?.status, 'ok', 'the first readable file wins (Bookworm: /boot/firmware)');
      assert.match(button!.message, /no gpio-shutdown overlay/);

      button = (await runDoctor(inputs(s.dir, [join(s.dir, 'nope.txt'), old]))).find((c) => c.name === 'button');
      assert.equal(button?.status, 'warn', 'the older /boot/config.txt when there is no /boot/firmware');
      assert.doesNotMatch(button!.message, /holds GPIO/, 'GPIO 3 is not the button line');

      button = (await runDoctor(inputs(s.dir, [join(s.dir, 'nope.txt')]))).find((c) => c.name === 'button');
      assert.equal(button?.status, 'ok');
      assert.match(button!.message, /no boot config/);
    } finally {
      s.cleanup();
    }
  });
});
