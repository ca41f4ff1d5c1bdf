/**
 * The camera-board checks of `rearview doctor`: which device backend `auto`
 * picks here, and on a Raspberry Pi whether the fuel gauge answers and
 * whether the service user may power the camera off (the installer's polkit
 * rule; without it a flat battery or a long button press cannot shut down).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceBackend, FuelGaugeChoice } from '../config.js';
import { I2cToolsBus } from '../device/i2c-tools-bus.js';
import { openFuelGauge } from '../device/open-fuel-gauge.js';
import { DEVICE_TREE_MODEL_PATH, resolveDeviceBackend } from '../device/resolve-device-backend.js';

/** One check, as `rearview doctor` prints it. */
export interface BoardCheck {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
}

/** What the board checks look at; every path overridable for tests. */
export interface BoardCheckInputs {
  deviceBackend: DeviceBackend;
  fuelGauge: FuelGaugeChoice;
  /** Default /proc/device-tree/model. */
  modelPath?: string;
  /** Root of `dev/i2c-N`. Default '/'. */
  deviceRoot?: string;
  /** The i2cget executable. Default 'i2cget' on PATH. */
  i2cget?: string;
  /** polkit's configuration folder. Default /etc/polkit-1. */
  polkitDir?: string;
  /** The service user the installer creates. Default 'rearview'. */
  serviceUser?: string;
}

/** The installer's files (deploy/board-setup.sh). */
export const POLKIT_RULE_FILE = join('rules.d', '50-rearview-power-off.rules');
export const POLKIT_PKLA_FILE = join('localauthority', '50-local.d', '50-rearview-power-off.pkla');

function readSmallFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').slice(0, 65_536);
  } catch {
    return undefined;
  }
}

/** Whether a polkit file lets `user` power off: the action, and the user in the form of its format. */
export function polkitAllowsPowerOff(polkitDir: string, user: string): string | undefined {
  const rules = join(polkitDir, POLKIT_RULE_FILE);
  const ruleText = readSmallFile(rules);
  if (ruleText?.includes('"org.freedesktop.login1.power-off"') && ruleText.includes(`subject.user == "${user}"`))
    return rules;
  const pkla = join(polkitDir, POLKIT_PKLA_FILE);
  const pklaText = readSmallFile(pkla);
  if (
    pklaText &&
    new RegExp(`^Identity=unix-user:${user}$`, 'm').test(pklaText) &&
    /^Action=.*org\.freedesktop\.login1\.power-off(;|$)/m.test(pklaText) &&
    /^ResultAny=yes$/m.test(pklaText)
  )
    return pkla;
  return undefined;
}

/** The board checks: 'device' always; 'fuel gauge' and 'power off' on the Linux backend. */
export async function boardChecks(inputs: BoardCheckInputs): Promise<BoardCheck[]> {
  const resolved = resolveDeviceBackend(inputs.deviceBackend, inputs.modelPath ?? DEVICE_TREE_MODEL_PATH);
  const checks: BoardCheck[] = [
    {
      name: 'device',
      status: 'ok',
      message:
        resolved.backend === 'linux'
          ? `Linux hardware (${resolved.reason})`
          : `simulated battery, LED and button (${resolved.reason})`,
    },
  ];
  if (resolved.backend !== 'linux') return checks;

  const busNumber = 1;
  const selection = await openFuelGauge({
    choice: inputs.fuelGauge,
    bus: new I2cToolsBus(busNumber, { command: inputs.i2cget }),
    busNumber,
    root: inputs.deviceRoot ?? '/',
  });
  const gauge = selection.gauge;
  if (gauge.kind === 'none') checks.push({ name: 'fuel gauge', status: 'ok', message: selection.description });
  else if (gauge.kind === 'missing')
    checks.push({ name: 'fuel gauge', status: 'warn', message: selection.description });
  else {
    const [percent, millivolts] = await Promise.all([
      gauge.readPercent().then(Math.round, (err: Error) => err),
      gauge.readMillivolts().then(Math.round, (err: Error) => err),
    ]);
    checks.push(
      percent instanceof Error || millivolts instanceof Error
        ? {
            name: 'fuel gauge',
            status: 'warn',
            message: `${selection.description}: ${(percent instanceof Error ? percent : (millivolts as Error)).message}`,
          }
        : { name: 'fuel gauge', status: 'ok', message: `${selection.description}: ${percent} %, ${millivolts} mV` },
    );
  }

  const user = inputs.serviceUser ?? 'rearview';
  const polkitDir = inputs.polkitDir ?? '/etc/polkit-1';
  const allowedBy = polkitAllowsPowerOff(polkitDir, user);
  checks.push(
    allowedBy
      ? { name: 'power off', status: 'ok', message: `polkit lets ${user} power off (${allowedBy})` }
      : {
          name: 'power off',
          status: 'warn',
          message: `no polkit rule lets ${user} power off (${join(polkitDir, POLKIT_RULE_FILE)}): the service runs with NoNewPrivileges, so a flat battery or a long button press cannot shut the camera down; run deploy/install.sh again`,
        },
  );
  return checks;
}
