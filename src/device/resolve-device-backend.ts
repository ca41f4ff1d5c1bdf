/**
 * What `--device-backend auto` means: the Linux hardware when the device tree
 * names a Raspberry Pi (`/proc/device-tree/model`, e.g. "Raspberry Pi Zero 2
 * W Rev 1.0"), the simulated stand-ins everywhere else (a laptop demo). On a
 * Pi nothing is made up: a part that cannot be read says so.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { DeviceBackend } from '../config.js';

/** The backend in use and why, for the start-up log and /api/v1/status. */
export interface ResolvedDeviceBackend {
  backend: 'linux' | 'simulated';
  reason: string;
}

/** Where Linux publishes the board's model name. */
export const DEVICE_TREE_MODEL_PATH = '/proc/device-tree/model';

/**
 * The board's model name from the device tree (NUL-terminated there), or
 * undefined when the file is missing or not a small regular file.
 */
export function readBoardModel(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('latin1').replace(/\0.*$/s, '').trim();
    // Printable ASCII only: it goes into the log and the status document.
    return /^[\x20-\x7e]+$/.test(text) ? text : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Resolves `auto` by the board model; `linux` and `simulated` are taken as given. */
export function resolveDeviceBackend(
  backend: DeviceBackend,
  modelPath = DEVICE_TREE_MODEL_PATH,
): ResolvedDeviceBackend {
  if (backend !== 'auto') return { backend, reason: `deviceBackend is "${backend}"` };
  const model = readBoardModel(modelPath);
  if (model === undefined)
    return { backend: 'simulated', reason: `auto: no board model in ${modelPath}, so not a Raspberry Pi` };
  if (/^Raspberry Pi\b/.test(model)) return { backend: 'linux', reason: `auto: ${modelPath} is "${model}"` };
  return { backend: 'simulated', reason: `auto: ${modelPath} is "${model}", not a Raspberry Pi` };
}
