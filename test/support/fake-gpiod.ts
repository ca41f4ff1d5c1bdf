/**
 * The fake libgpiod tools (test/support/fake-gpiod/) as a test sees them:
 * an environment whose PATH has only them, in the v1 or v2 flavour, what
 * each invocation was called with, and a way to press the button (send
 * edges to the running gpiomon).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { repoRoot, scratchDir } from './paths.js';
import { waitFor } from './wait.js';

/** Folder of the fake tools. */
export const fakeGpiodBin = join(repoRoot, 'test', 'support', 'fake-gpiod');

/** One record of calls.jsonl. */
export interface FakeGpiodCall {
  tool: string;
  pid: number;
  event: 'start' | 'exit' | 'failed' | 'listening';
  args?: string[];
  message?: string;
  socket?: string;
}

/** A state folder and environment for the fake tools. */
export interface FakeGpiod {
  version: 1 | 2;
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Every record so far. */
  calls(): FakeGpiodCall[];
  /** Argument lists of each start of `tool` (excluding `--version`). */
  starts(tool: string): string[][];
  /** The processes of `tool` that started and are still running. */
  live(tool: string): FakeGpiodCall[];
  /** Sets the level gpioget reports for `offset`. */
  setLevel(offset: number, level: 0 | 1): void;
  /** The level the last gpioset wrote for `offset`. */
  level(offset: number): string | undefined;
  /** Waits for a listening gpiomon on `offset` and sends it an edge. */
  edge(offset: number, edge: 'rising' | 'falling'): Promise<void>;
  cleanup(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Fake tools of libgpiod `version`; `gpiodetect` overrides the chips they list. */
export function fakeGpiod(version: 1 | 2, options: { gpiodetect?: string } = {}): FakeGpiod {
  const scratch = scratchDir('rearview-gpiod-');
  const dir = scratch.dir;
  writeFileSync(join(dir, 'calls.jsonl'), '');
  if (options.gpiodetect !== undefined) writeFileSync(join(dir, 'gpiodetect'), options.gpiodetect);
  const env: NodeJS.ProcessEnv = {
    PATH: fakeGpiodBin,
    FAKE_NODE: process.execPath,
    FAKE_GPIOD_DIR: dir,
    FAKE_GPIOD_VERSION: String(version),
  };
  const calls = (): FakeGpiodCall[] =>
    readFileSync(join(dir, 'calls.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as FakeGpiodCall);
  const live = (tool: string): FakeGpiodCall[] => {
    const all = calls().filter((c) => c.tool === tool);
    const ended = new Set(all.filter((c) => c.event === 'exit' || c.event === 'failed').map((c) => c.pid));
    // A fake killed before it set up its SIGTERM handler records no exit: ask the kernel too.
    return all.filter((c) => c.event === 'start' && c.args?.[0] !== '--version' && !ended.has(c.pid) && alive(c.pid));
  };
  return {
    version,
    dir,
    env,
    calls,
    starts: (tool) =>
      calls()
        .filter((c) => c.tool === tool && c.event === 'start' && c.args?.[0] !== '--version')
        .map((c) => c.args!),
    live,
    setLevel: (offset, level) => writeFileSync(join(dir, `level-${offset}`), String(level)),
    level: (offset) =>
      existsSync(join(dir, `level-${offset}`)) ? readFileSync(join(dir, `level-${offset}`), 'utf8') : undefined,
    edge: async (offset, edge) => {
      const socket = join(dir, `gpiomon-${offset}.sock`);
      let pid = 0;
      await waitFor(
        () => {
          const mon = live('gpiomon').map((c) => c.pid);
          const listening = calls().find((c) => c.event === 'listening' && mon.includes(c.pid) && c.socket === socket);
          pid = listening?.pid ?? 0;
          return pid !== 0;
        },
        `a listening gpiomon on line ${offset}`,
        30_000,
      );
      await new Promise<void>((resolve, reject) => {
        const conn = createConnection(socket, () => conn.end(`${edge}\n`));
        conn.on('close', () => resolve());
        conn.on('error', reject);
      });
    },
    cleanup: scratch.cleanup,
  };
}

/** An environment whose PATH has no libgpiod tools (an empty folder next to the fakes' parent). */
export function noGpiodEnv(): NodeJS.ProcessEnv {
  return { PATH: join(dirname(fakeGpiodBin), 'no-such-folder') };
}
