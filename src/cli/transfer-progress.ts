/**
 * Progress of `videos download` and `videos sync`: per file and overall
 * (files and bytes). `--progress auto` draws cli-progress bars on a terminal
 * stderr and prints nothing otherwise; `json` writes one JSON object a line
 * to stderr for scripts and logs (docs/cli.md); `none` is silent.
 */
import type { SingleBar } from 'cli-progress';
import { CliError, ExitCode } from './exit-codes.js';

/** The values of `--progress`. */
export const PROGRESS_MODES = ['auto', 'json', 'none'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** What a transfer reports as it goes. */
export interface TransferProgress {
  /** The run will fetch `files` files, `totalBytes` in all when every size is known. */
  plan(files: number, totalBytes: number | undefined): void;
  /** A file starts with `done` bytes already on disk (a resumed part); returns its byte callback. */
  start(name: string, total: number | undefined, done: number): (bytes: number, total: number | undefined) => void;
  /** The file started last is finished (`ok`) or failed; `bytes` are on disk. */
  finish(name: string, bytes: number, ok: boolean): void;
  /** The run is over (also after an error): bars are left as they are, the JSON stream ends with `end`. */
  stop(): void;
}

/** One line of `--progress json`. */
export interface ProgressEvent {
  event: 'plan' | 'start' | 'bytes' | 'finish' | 'end';
  /** The file concerned (all but plan and end). */
  file?: string;
  /** finish: false when the file failed. */
  ok?: boolean;
  fileBytes?: number;
  fileTotalBytes?: number | null;
  /** Files finished (or failed) so far, of filesTotal. */
  filesDone: number;
  filesTotal: number;
  /** Bytes on disk of this run's files so far (a resumed part counts from the start), of bytesTotal. */
  bytesDone: number;
  bytesTotal: number | null;
}

/** Checks a `--progress` value against the closed set. */
export function progressMode(value: string): ProgressMode {
  if (!(PROGRESS_MODES as readonly string[]).includes(value)) {
    throw new CliError(
      `--progress: expected ${PROGRESS_MODES.join(', ')}, got ${JSON.stringify(value)}`,
      ExitCode.USAGE,
    );
  }
  return value as ProgressMode;
}

/** Counts files and bytes across a run; the display modes share it. */
class Totals {
  filesTotal = 0;
  bytesTotal: number | undefined;
  filesDone = 0;
  /** Bytes of the finished files. */
  finishedBytes = 0;
  /** Bytes on disk of the file in progress. */
  currentBytes = 0;

  get bytesDone(): number {
    return this.finishedBytes + this.currentBytes;
  }
}

/** `json`: JSON lines, `bytes` events at each whole percent of the run (each MiB when the total is unknown). */
export function jsonProgress(write: (line: string) => void): TransferProgress {
  const t = new Totals();
  let current: { name: string; total: number | undefined } | undefined;
  let nextMark = 0;
  const emit = (event: ProgressEvent['event'], extra: Partial<ProgressEvent> = {}): void => {
    const line: ProgressEvent = {
      event,
      ...extra,
      filesDone: t.filesDone,
      filesTotal: t.filesTotal,
      bytesDone: t.bytesDone,
      bytesTotal: t.bytesTotal ?? null,
    };
    write(`${JSON.stringify(line)}\n`);
  };
  const step = (): number => (t.bytesTotal ? Math.max(1, Math.ceil(t.bytesTotal / 100)) : 1 << 20);
  return {
    plan(files, totalBytes) {
      t.filesTotal = files;
      t.bytesTotal = totalBytes;
      emit('plan');
    },
    start(name, total, done) {
      current = { name, total };
      t.currentBytes = done;
      nextMark = t.bytesDone + step();
      emit('start', { file: name, fileBytes: done, fileTotalBytes: total ?? null });
      return (bytes, fileTotal) => {
        if (current) current.total = fileTotal ?? current.total;
        t.currentBytes = bytes;
        if (t.bytesDone < nextMark) return;
        nextMark = t.bytesDone + step();
        emit('bytes', { file: name, fileBytes: bytes, fileTotalBytes: current?.total ?? null });
      };
    },
    finish(name, bytes, ok) {
      t.filesDone++;
      t.finishedBytes += bytes;
      t.currentBytes = 0;
      emit('finish', { file: name, ok, fileBytes: bytes, fileTotalBytes: current?.total ?? null });
      current = undefined;
    },
    stop() {
      emit('end');
    },
  };
}

/** `auto` on a terminal: one bar per file under an overall bar (files and MB). */
async function barsProgress(stream: NodeJS.WriteStream): Promise<TransferProgress> {
  const { MultiBar, Presets } = await import('cli-progress');
  const bars = new MultiBar(
    {
      stream,
      format: ' {bar} {percentage}% | {name} | {value_mb}/{total_mb} MB',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
    },
    Presets.shades_classic,
  );
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  const t = new Totals();
  let overall: SingleBar | undefined;
  const redraw = (): void => {
    overall?.update(t.bytesTotal === undefined ? t.filesDone : t.bytesDone, {
      files: `${t.filesDone}/${t.filesTotal}`,
      value_mb: mb(t.bytesDone),
      total_mb: t.bytesTotal === undefined ? '?' : mb(t.bytesTotal),
    });
  };
  return {
    plan(files, totalBytes) {
      t.filesTotal = files;
      t.bytesTotal = totalBytes;
      if (files === 0) return;
      // Without every size the overall bar counts files; the MB figure still grows.
      overall = bars.create(
        totalBytes ?? files,
        0,
        {},
        { format: ' {bar} {percentage}% | all: {files} files | {value_mb}/{total_mb} MB' },
      );
      redraw();
    },
    start(name, total, done) {
      t.currentBytes = done;
      redraw();
      const bar = bars.create(total ?? 0, done, {
        name,
        value_mb: mb(done),
        total_mb: total === undefined ? '?' : mb(total),
      });
      return (bytes, fileTotal) => {
        if (fileTotal !== undefined) bar.setTotal(fileTotal);
        bar.update(bytes, { value_mb: mb(bytes), total_mb: fileTotal === undefined ? '?' : mb(fileTotal) });
        t.currentBytes = bytes;
        redraw();
      };
    },
    finish(_name, bytes, _ok) {
      t.filesDone++;
      t.finishedBytes += bytes;
      t.currentBytes = 0;
      redraw();
    },
    stop: () => bars.stop(),
  };
}

const SILENT: TransferProgress = {
  plan: () => undefined,
  start: () => () => undefined,
  finish: () => undefined,
  stop: () => undefined,
};

/** The progress display for `mode` on stderr. */
export async function createTransferProgress(
  mode: ProgressMode,
  stream: NodeJS.WriteStream = process.stderr,
): Promise<TransferProgress> {
  if (mode === 'json') return jsonProgress((line) => stream.write(line));
  if (mode === 'auto' && stream.isTTY) return barsProgress(stream);
  return SILENT;
}
