/**
 * A fake I2C bus for the fuel gauge tests: an `i2cget` executable (a small
 * POSIX shell script, so each read costs a few milliseconds like the real
 * one) answering from one of the register tables in
 * test/fixtures/device/i2c/ and recording its arguments.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, scratchDir } from './paths.js';

/** The register tables (test/fixtures/device/i2c/README.md). */
export const I2C_TABLES = {
  max17048: join(repoRoot, 'test', 'fixtures', 'device', 'i2c', 'max17048-bus-1.json'),
  lc709203f: join(repoRoot, 'test', 'fixtures', 'device', 'i2c', 'lc709203f-bus-1.json'),
  empty: join(repoRoot, 'test', 'fixtures', 'device', 'i2c', 'empty-bus-1.json'),
} as const;

/** A register table (the fixture files' format). */
export interface FakeI2cTable {
  bus: number;
  /** Address (0xNN) -> register (0xNN) -> its two bytes in wire order ("c8 4f"). */
  devices: Record<string, Record<string, string>>;
  /** Never answer (to test the read timeout). */
  hang?: boolean;
}

/** A fake `i2cget` in a scratch folder. */
export interface FakeI2cget {
  /** Path of the executable (give it as the `i2cget` command, or put `dir` first on PATH). */
  command: string;
  dir: string;
  /** The argument arrays of every call so far, oldest first. */
  calls(): string[][];
  cleanup(): void;
}

const HEX_BYTE = /^0x[0-9a-f]{2}$/;

/**
 * The script: checks the arguments are exactly `-y BUS 0xAA 0xRR w`, logs them
 * (tab-separated, one call a line), then answers like i2c-tools' i2cget: the
 * SMBus word (first wire byte low) as 0xNNNN, or its error and exit status 1.
 */
function script(dir: string): string {
  return `#!/bin/sh
D='${dir}'
printf '%s\\t' "$@" >> "$D/calls.log"; printf '\\n' >> "$D/calls.log"
usage() { echo 'Usage: i2cget [-f] [-y] [-a] I2CBUS CHIP-ADDRESS [DATA-ADDRESS [MODE]]' >&2; exit 1; }
[ $# -eq 5 ] && [ "$1" = -y ] && [ "$5" = w ] || usage
case "$2" in ''|*[!0-9]*) usage ;; esac
case "$3" in 0x[0-9a-f][0-9a-f]) ;; *) usage ;; esac
case "$4" in 0x[0-9a-f][0-9a-f]) ;; *) usage ;; esac
if [ "$2" != "$(cat "$D/bus")" ]; then
  echo "Error: Could not open file \\\`/dev/i2c-$2' or \\\`/dev/i2c/$2': No such file or directory" >&2; exit 1
fi
[ -e "$D/hang" ] && exec sleep 600
line=$(grep "^$3 $4 " "$D/registers") || { echo 'Error: Read failed' >&2; exit 1; }
set -- $line
printf '0x%s%s\\n' "$4" "$3"
`;
}

/** Writes the table in the script's flat form: `bus`, `registers` ("0xAA 0xRR b0 b1" lines), `hang`. */
function writeTable(dir: string, table: FakeI2cTable): void {
  writeFileSync(join(dir, 'table.json'), JSON.stringify(table));
  writeFileSync(join(dir, 'bus'), `${table.bus}\n`);
  const lines: string[] = [];
  for (const [address, registers] of Object.entries(table.devices))
    for (const [register, bytes] of Object.entries(registers)) {
      if (!HEX_BYTE.test(address) || !HEX_BYTE.test(register) || !/^[0-9a-f]{2} [0-9a-f]{2}$/.test(bytes))
        throw new Error(`bad register table entry ${address} ${register}: ${bytes}`);
      lines.push(`${address} ${register} ${bytes}\n`);
    }
  writeFileSync(join(dir, 'registers'), lines.join(''));
  if (table.hang) writeFileSync(join(dir, 'hang'), '');
}

/** Writes a fake `i2cget` answering from `tablePath` (copied, so a test may edit its own copy). */
export function fakeI2cget(tablePath: string): FakeI2cget {
  const scratch = scratchDir('rearview-i2c-');
  if (!/^[A-Za-z0-9_./-]+$/.test(scratch.dir)) throw new Error(`unexpected scratch path ${scratch.dir}`);
  writeTable(scratch.dir, JSON.parse(readFileSync(tablePath, 'utf8')) as FakeI2cTable);
  writeFileSync(join(scratch.dir, 'calls.log'), '');
  const command = join(scratch.dir, 'i2cget');
  writeFileSync(command, script(scratch.dir));
  chmodSync(command, 0o755);
  return {
    command,
    dir: scratch.dir,
    calls: () =>
      readFileSync(join(scratch.dir, 'calls.log'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t').slice(0, -1)),
    cleanup: scratch.cleanup,
  };
}

/** Changes the fake's table copy; later calls see the change. */
export function editFakeTable(fake: FakeI2cget, edit: (table: FakeI2cTable) => void): void {
  const table = JSON.parse(readFileSync(join(fake.dir, 'table.json'), 'utf8')) as FakeI2cTable;
  edit(table);
  writeTable(fake.dir, table);
}

/** Sets one register of the fake's table copy (bytes in wire order, e.g. "c8 4f"). */
export function setFakeRegister(fake: FakeI2cget, address: string, register: string, bytes: string): void {
  editFakeTable(fake, (table) => {
    table.devices[address] = { ...table.devices[address], [register]: bytes };
  });
}
