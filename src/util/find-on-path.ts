/** Finding executables on PATH, shared by the capture sources, the ffmpeg locator and `rearview doctor`. */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The full path of an executable file named `name` in one of the folders of
 * `pathVar` (a PATH value), or undefined. Used to choose between
 * alternatives (rpicam-vid or libcamera-vid) before spawning.
 */
export function findOnPath(name: string, pathVar: string | undefined): string | undefined {
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
