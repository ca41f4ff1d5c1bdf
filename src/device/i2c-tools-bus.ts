/**
 * SMBus word reads through `i2cget` from i2c-tools, one short child process
 * per read. Setting the slave address of `/dev/i2c-N` needs an ioctl Node
 * cannot make, and native npm packages need a C toolchain on the Pi; the
 * i2c-tools package is prebuilt in every Raspberry Pi OS release.
 */
import { execFile } from 'node:child_process';
import { RearviewError } from '../errors.js';

/** The few SMBus calls a fuel gauge needs. */
export interface I2cBus {
  /**
   * SMBus "read word data": the first byte on the wire is the low byte of the
   * result (what `i2cget ... w` prints). Chips that send their most significant
   * byte first (the MAX17048) have to swap the two bytes.
   */
  readWord(address: number, command: number): Promise<number>;
  close(): Promise<void>;
}

/** Options of I2cToolsBus. */
export interface I2cToolsBusOptions {
  /** The i2cget executable, looked up on PATH. Default 'i2cget'. Tests give a fake. */
  command?: string;
  /** Kill a read that takes longer, ms. Default 2000. */
  timeoutMs?: number;
}

/** Two hex digits, or four for 16-bit values: the exact text i2cget expects. */
function hex(value: number, digits: number): string {
  return `0x${value.toString(16).padStart(digits, '0')}`;
}

/** Bus `busNumber` read with `i2cget -y BUS ADDRESS REGISTER w`. */
export class I2cToolsBus implements I2cBus {
  private readonly command: string;
  private readonly timeoutMs: number;
  /** Reads run one at a time: a burst of requests never becomes a burst of processes. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly busNumber: number,
    options: I2cToolsBusOptions = {},
  ) {
    if (!Number.isInteger(busNumber) || busNumber < 0 || busNumber > 255)
      throw new RangeError(`I2C bus number out of range: ${busNumber}`);
    this.command = options.command ?? 'i2cget';
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  readWord(address: number, command: number): Promise<number> {
    // Only 7-bit addresses and 8-bit registers: every argument is a number from the drivers, checked here.
    if (!Number.isInteger(address) || address < 0x03 || address > 0x77)
      return Promise.reject(new RangeError(`I2C address out of range: ${address}`));
    if (!Number.isInteger(command) || command < 0 || command > 0xff)
      return Promise.reject(new RangeError(`I2C register out of range: ${command}`));
    const argv = ['-y', String(this.busNumber), hex(address, 2), hex(command, 2), 'w'];
    const run = this.queue.then(() => this.run(argv));
    this.queue = run.catch(() => undefined); // one failed read does not stop the next
    return run;
  }

  async close(): Promise<void> {
    // Nothing stays open between reads.
  }

  private run(argv: string[]): Promise<number> {
    return new Promise((resolve, reject) => {
      execFile(
        this.command,
        argv,
        { timeout: this.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4096, env: { ...process.env, LC_ALL: 'C' } },
        (err, stdout, stderr) => {
          const where = `i2cget ${argv.join(' ')}`;
          if (err) {
            const code = (err as NodeJS.ErrnoException).code;
            const why =
              code === 'ENOENT'
                ? `${this.command} not found: install i2c-tools (apt-get install i2c-tools)`
                : err.killed
                  ? `no answer within ${this.timeoutMs} ms`
                  : String(stderr).trim().split('\n')[0] || err.message;
            reject(new RearviewError('ERR_DEVICE_UNAVAILABLE', `${where}: ${why}`, { cause: err }));
            return;
          }
          const text = String(stdout).trim();
          if (!/^0x[0-9a-fA-F]{1,4}$/.test(text)) {
            reject(
              new RearviewError(
                'ERR_DEVICE_UNAVAILABLE',
                `${where}: unexpected output ${JSON.stringify(text.slice(0, 40))}`,
              ),
            );
            return;
          }
          resolve(Number.parseInt(text.slice(2), 16));
        },
      );
    });
  }
}

/** Swaps the two bytes of an SMBus word: the value of a register sent most significant byte first. */
export function swapWordBytes(word: number): number {
  return ((word & 0xff) << 8) | ((word >> 8) & 0xff);
}
