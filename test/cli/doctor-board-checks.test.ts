/**
 * The installer's camera-board steps (deploy/board-setup.sh, run with the
 * real bash in scratch folders: I2C in config.txt, the polkit power-off rule)
 * and the `rearview doctor` checks that look for them (device backend, fuel
 * gauge through a fake i2cget, permission to power off).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runInNewContext } from 'node:vm';
import { boardChecks, polkitAllowsPowerOff } from '../../src/cli/doctor-board-checks.js';
import { fakeI2cget, I2C_TABLES } from '../support/fake-i2c.js';
import { repoRoot, scratchDir } from '../support/paths.js';

const BOARD_SETUP = join(repoRoot, 'deploy', 'board-setup.sh');

/**
 * Runs one board-setup.sh function with arguments (passed as "$@", never as shell text). With
 * explicit paths the functions touch only those files: nothing is loaded into this machine's kernel.
 */
function boardSetup(fn: 'enable_i2c' | 'install_power_off_rule', ...args: string[]): string {
  return execFileSync('bash', ['-c', `set -euo pipefail; . "$0"; ${fn} "$@"`, BOARD_SETUP, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** What a polkit rules file decides for one action and user (its JavaScript run with a stub `polkit`). */
function ruleResult(file: string, actionId: string, user: string): string | undefined {
  const rules: Array<(action: { id: string }, subject: { user: string }) => unknown> = [];
  const polkit = { Result: { YES: 'yes', NO: 'no' }, addRule: (fn: (typeof rules)[number]) => rules.push(fn) };
  runInNewContext(readFileSync(file, 'utf8'), { polkit });
  for (const rule of rules) {
    const r = rule({ id: actionId }, { user });
    if (r !== undefined) return String(r);
  }
  return undefined;
}

describe('installer: I2C in the boot config', () => {
  it('appends dtparam=i2c_arm=on under [all] once, keeps an enabled config, turns off into on', () => {
    const s = scratchDir('rearview-boot-');
    try {
      const config = join(s.dir, 'config.txt');
      const modules = join(s.dir, 'modules-load.d');
      // Raspberry Pi OS's own file: the line is there, commented out, and a board filter is open at the end.
      const stock =
        '# Uncomment some or all of these to enable the optional hardware interfaces\n#dtparam=i2c_arm=on\n#dtparam=i2s=on\n\n[cm5]\ndtoverlay=dwc2,dr_mode=host\n';
      writeFileSync(config, stock);
      assert.match(boardSetup('enable_i2c', config, modules), /I2C enabled in .*config\.txt/);
      const once = readFileSync(config, 'utf8');
      assert.equal(
        once,
        `${stock}\n# I2C bus 1: the battery fuel gauge (added by the Rearview installer)\n[all]\ndtparam=i2c_arm=on\n`,
      );
      assert.equal(readFileSync(join(modules, 'rearview-i2c.conf'), 'utf8').split('\n')[1], 'i2c-dev');
      assert.match(boardSetup('enable_i2c', config, modules), /already enabled/);
      assert.equal(readFileSync(config, 'utf8'), once, 'idempotent');

      writeFileSync(config, 'dtparam=audio=on,i2c_arm=off\n');
      boardSetup('enable_i2c', config, modules);
      assert.equal(readFileSync(config, 'utf8'), 'dtparam=audio=on,i2c_arm=on\n');
      writeFileSync(config, 'dtparam=i2c_arm\n');
      assert.match(boardSetup('enable_i2c', config, modules), /already enabled/);
    } finally {
      s.cleanup();
    }
  });
});

describe('installer: the polkit power-off rule and doctor', () => {
  it('the rule lets the service user power off and nobody else anything; doctor finds it', () => {
    const s = scratchDir('rearview-polkit-');
    try {
      const polkit = join(s.dir, 'polkit-1');
      assert.equal(polkitAllowsPowerOff(polkit, 'rearview'), undefined);
      boardSetup('install_power_off_rule', 'rearview', polkit);
      boardSetup('install_power_off_rule', 'rearview', polkit); // again: same file
      const rules = join(polkit, 'rules.d', '50-rearview-power-off.rules');
      assert.equal(ruleResult(rules, 'org.freedesktop.login1.power-off', 'rearview'), 'yes');
      assert.equal(ruleResult(rules, 'org.freedesktop.login1.power-off-multiple-sessions', 'rearview'), 'yes');
      assert.equal(ruleResult(rules, 'org.freedesktop.login1.reboot', 'rearview'), undefined);
      assert.equal(ruleResult(rules, 'org.freedesktop.login1.power-off', 'pi'), undefined);
      assert.equal(polkitAllowsPowerOff(polkit, 'rearview'), rules);
      assert.equal(polkitAllowsPowerOff(polkit, 'pi'), undefined);
      assert.throws(() => boardSetup('install_power_off_rule', 'x"; evil', polkit), /bad user name/);
    } finally {
      s.cleanup();
    }
  });

  it('where polkit reads .pkla files (0.105, polkitd-pkla) a .pkla is written too', () => {
    const s = scratchDir('rearview-pkla-');
    try {
      const polkit = join(s.dir, 'polkit-1');
      mkdirSync(join(polkit, 'localauthority'), { recursive: true });
      boardSetup('install_power_off_rule', 'rearview', polkit);
      const pkla = readFileSync(join(polkit, 'localauthority', '50-local.d', '50-rearview-power-off.pkla'), 'utf8');
      assert.match(pkla, /^Identity=unix-user:rearview$/m);
      assert.match(
        pkla,
        /^Action=org\.freedesktop\.login1\.power-off;org\.freedesktop\.login1\.power-off-multiple-sessions$/m,
      );
      // Only the .pkla left (an old polkit): doctor still finds the permission.
      const old = join(s.dir, 'old-polkit');
      cpSync(join(polkit, 'localauthority'), join(old, 'localauthority'), { recursive: true });
      assert.match(polkitAllowsPowerOff(old, 'rearview') ?? '', /\.pkla$/);
    } finally {
      s.cleanup();
    }
  });

  it('doctor on a Raspberry Pi: the gauge that answers, and power off ok or a warning', async () => {
    const s = scratchDir('rearview-doctor-board-');
    const fake = fakeI2cget(I2C_TABLES.max17048);
    try {
      const pi = join(repoRoot, 'test', 'fixtures', 'device', 'pi-zero-2w');
      const polkit = join(s.dir, 'polkit-1');
      const inputs = {
        deviceBackend: 'auto' as const,
        fuelGauge: 'auto' as const,
        modelPath: join(pi, 'proc', 'device-tree', 'model'),
        deviceRoot: pi,
        i2cget: fake.command,
        polkitDir: polkit,
      };
      const before = await boardChecks(inputs);
      assert.deepEqual(
        before.map((c) => [c.name, c.status]),
        [
          ['device', 'ok'],
          ['fuel gauge', 'ok'],
          ['power off', 'warn'],
        ],
      );
      assert.match(before[0]?.message ?? '', /^Linux hardware \(auto: .* is "Raspberry Pi Zero 2 W Rev 1\.0"\)$/);
      assert.equal(before[1]?.message, 'fuel gauge MAX17048 at 0x36 on I2C bus 1 (4006 mV): 87 %, 4006 mV');
      assert.match(before[2]?.message ?? '', /no polkit rule lets rearview power off/);
      boardSetup('install_power_off_rule', 'rearview', polkit);
      const after = await boardChecks(inputs);
      assert.equal(after[2]?.status, 'ok');

      const empty = fakeI2cget(I2C_TABLES.empty);
      try {
        const missing = await boardChecks({ ...inputs, i2cget: empty.command });
        assert.equal(missing[1]?.status, 'warn');
        assert.match(missing[1]?.message ?? '', /^fuel gauge missing: no fuel gauge answered on I2C bus 1/);
      } finally {
        empty.cleanup();
      }
      // Not a Pi: only the backend line, nothing read.
      const calls = fake.calls().length;
      const laptop = await boardChecks({ ...inputs, modelPath: join(s.dir, 'no-model') });
      assert.deepEqual(
        laptop.map((c) => c.name),
        ['device'],
      );
      assert.match(laptop[0]?.message ?? '', /^simulated battery, LED and button \(auto: /);
      assert.equal(fake.calls().length, calls);
    } finally {
      fake.cleanup();
      s.cleanup();
    }
  });
});
