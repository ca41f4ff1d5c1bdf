/**
 * The version in this package's package.json, read once: for `--version`,
 * /api/v1/status and the mDNS advertisement.
 */
import { readFileSync } from 'node:fs';

let cached: { version: string | undefined } | undefined;

/**
 * The package version ("0.1.0"), or undefined when package.json cannot be
 * read (a broken install). Read from disk on the first call only.
 */
export function packageVersion(): string | undefined {
  if (!cached) {
    try {
      // Compiled to dist/src/util/: the package root is three levels up.
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
        version?: unknown;
      };
      cached = { version: typeof pkg.version === 'string' ? pkg.version : undefined };
    } catch {
      cached = { version: undefined };
    }
  }
  return cached.version;
}
