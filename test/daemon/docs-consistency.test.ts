/**
 * The reference docs match the code. Regressions: docs/config.md listed a
 * `--charging-gpio` flag `serve` did not have (and could drift again the
 * other way), and docs/errors.md missed ERR_RECORDER_IO and ERR_INTERNAL
 * while documenting a code nothing raised.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../src/config.js';
import { repoRoot } from '../support/paths.js';
import { runCli } from '../cli/cli-run.js';

const read = (rel: string): string => readFileSync(join(repoRoot, rel), 'utf8');

/** Table rows of a Markdown file (lines starting with `|`), header and separator rows left out. */
function tableRows(md: string): string[][] {
  return md
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|[-| ]+\|$/.test(l) && !/^\| *(key|code|folder) *\|/.test(l))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
}

describe('docs match the code', () => {
  it('docs/config.md lists exactly the options of `rearview serve --help`, and only real config keys', async () => {
    const help = await runCli(['serve', '--help']);
    assert.equal(help.code, 0, help.stderr);
    const fromHelp = new Set([...help.stdout.matchAll(/^ {2}(?:-\w, )?(--[a-z0-9-]+)/gm)].map((m) => m[1] as string));
    fromHelp.delete('--help');
    fromHelp.delete('--config'); // described in the text above the tables
    fromHelp.delete('--check-config'); // an action, not a setting: in that text and in docs/cli.md
    const rows = tableRows(read('docs/config.md'));
    const fromDocs = new Set(rows.flatMap((r) => [...(r[1] ?? '').matchAll(/--[a-z0-9-]+/g)].map((m) => m[0])));
    assert.deepEqual([...fromDocs].filter((f) => !fromHelp.has(f)).sort(), [], 'documented but not an option of serve');
    assert.deepEqual(
      [...fromHelp].filter((f) => !fromDocs.has(f)).sort(),
      [],
      'options of serve missing from docs/config.md',
    );
    const config = defaultConfig() as unknown as Record<string, unknown>;
    const keys = rows.flatMap((r) => [...(r[0] ?? '').matchAll(/`([A-Za-z.]+)`/g)].map((m) => m[1] as string));
    assert.ok(keys.length > 30, `found ${keys.length} keys`);
    for (const key of keys) {
      const [a, b] = key.split('.');
      const known =
        b === undefined ? a! in config : (a === 'video' || a === 'recordVideo') && b in (config[a] as object);
      assert.ok(known, `docs/config.md key ${key} is not in defaultConfig()`);
    }
  });

  it('every ErrorCode in src/errors.ts is documented in docs/errors.md, and docs/errors.md names no other code', () => {
    const source = read('src/errors.ts');
    const union = /export type ErrorCode =([^;]+);/.exec(source)?.[1] ?? '';
    const codes = new Set([...union.matchAll(/'(ERR_[A-Z0-9_]+)'/g)].map((m) => m[1] as string));
    assert.ok(codes.size > 20);
    const docs = read('docs/errors.md');
    const documented = new Set([...docs.matchAll(/`(ERR_[A-Z0-9_]+)`/g)].map((m) => m[1] as string));
    assert.deepEqual([...codes].filter((c) => !documented.has(c)).sort(), [], 'codes missing from docs/errors.md');
    assert.deepEqual(
      [...documented].filter((c) => !codes.has(c)).sort(),
      [],
      'documented codes not in the ErrorCode union',
    );
  });
});
