/**
 * The camera's name on a shared media server (`{name}` in a publish URL):
 * the configured camera name, made unique when it is the default, so that
 * many cameras publishing to one server do not collide. The suffix comes
 * from the board's serial number (`/proc/device-tree/serial-number` on a
 * Raspberry Pi: its last 8 hex digits, which the owner can read on the board
 * too), else from the machine id, hashed (systemd asks that the id itself
 * is never shown). Only `{name}` uses it: mDNS keeps the camera name the
 * apps look for.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Where the suffix is read from (tests point these at files of their own). */
export interface FleetNameSources {
  serialNumberPath?: string;
  machineIdPath?: string;
}

/** `cameraName`, with `-<suffix>` when it is `defaultName` and a board serial or machine id is found. */
export function fleetName(cameraName: string, defaultName: string, sources: FleetNameSources = {}): string {
  if (cameraName !== defaultName) return cameraName;
  const suffix = deviceSuffix(sources);
  return suffix ? `${cameraName}-${suffix}` : cameraName;
}

/** 8 lower-case hex digits identifying this device, or undefined. */
export function deviceSuffix(sources: FleetNameSources = {}): string | undefined {
  const serial = readSmall(sources.serialNumberPath ?? '/proc/device-tree/serial-number')
    ?.replace(/\0/g, '')
    .trim()
    .toLowerCase();
  if (serial && /^[0-9a-f]{8,}$/.test(serial)) return serial.slice(-8);
  const machineId = readSmall(sources.machineIdPath ?? '/etc/machine-id')?.trim();
  if (machineId && /^[0-9a-fA-F]{32}$/.test(machineId))
    return createHash('sha256').update(`rearview-fleet-name:${machineId}`).digest('hex').slice(0, 8);
  return undefined;
}

function readSmall(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').slice(0, 256);
  } catch {
    return undefined; // absent on this machine: no suffix from it
  }
}
