/**
 * `rearview nalu <source>`: lists the NAL units (or access units) of an H.264
 * Annex-B stream from a file, standard input or tcp://host:port, or
 * summarises it. Output and exit codes are documented in docs/cli.md.
 */
import { performance } from 'node:perf_hooks';
import type { H264Error } from '../errors.js';
import type { AccessUnit } from '../h264/access-unit.js';
import { H264StreamParser } from '../h264/h264-stream-parser.js';
import type { NalUnit } from '../h264/nal-unit.js';
import { parsePps } from '../h264/pps.js';
import { parseSliceHeader } from '../h264/slice-header.js';
import { parseSps } from '../h264/sps.js';
import { parseBytes, parseDurationMs } from '../util/units.js';
import { ConfigError } from '../errors.js';
import { openByteSource } from './byte-source.js';
import { CliError, ExitCode } from './exit-codes.js';
import { NaluOutput, type LineSink } from './nalu-output.js';
import {
  describeSei,
  frameJson,
  frameLine,
  nalJson,
  NaluStats,
  seedLine,
  summaryText,
  type FrameTiming,
  type NalDetails,
} from './nalu-report.js';

/** Options of `rearview nalu` as commander hands them over (strings are parsed here). */
export interface NaluOptions {
  /** JSON lines instead of text. */
  json?: boolean;
  /** One line per access unit instead of per NAL unit. */
  frames?: boolean;
  /** Only a summary at the end. */
  summary?: boolean;
  /** Stop after this many NAL units (access units with --frames). */
  count?: string;
  /** Stop after this long (seconds, or "500ms", "1m"). */
  duration?: string;
  /** Reconnect a TCP source that drops or refuses. */
  retry?: boolean;
  /** Largest NAL unit accepted (default "16MiB"). */
  maxNalBytes?: string;
}

/** Where `runNalu` writes; process.stdout/stderr by default (tests inject). */
export interface NaluIo {
  stdout: LineSink;
  stderr: (line: string) => void;
  /** Installs a Ctrl-C handler; returns its removal. */
  onInterrupt: (handler: () => void) => () => void;
}

/** Bytes searched for the first start code before giving up: 1 MiB. */
const START_CODE_SEARCH_BYTES = 1024 * 1024;

const defaultIo = (): NaluIo => ({
  stdout: process.stdout,
  stderr: (line) => process.stderr.write(`${line}\n`),
  onInterrupt: (handler) => {
    let interrupts = 0;
    const listener = (): void => {
      // A second Ctrl-C while the summary is being produced: stop at once.
      if (++interrupts > 1) process.exit(ExitCode.INTERRUPTED);
      handler();
    };
    process.on('SIGINT', listener);
    return () => process.removeListener('SIGINT', listener);
  },
});

/** Parses the numeric options, throwing CliError (USAGE) naming the bad one. */
function parseOptions(options: NaluOptions): {
  count: number | undefined;
  durationMs: number | undefined;
  maxNalBytes: number;
} {
  let count: number | undefined;
  if (options.count !== undefined) {
    count = Number(options.count);
    if (!Number.isInteger(count) || count < 1)
      throw new CliError(`--count: expected a positive integer, got "${options.count}"`, ExitCode.USAGE);
  }
  try {
    const durationMs = options.duration !== undefined ? parseDurationMs(options.duration, '--duration') : undefined;
    const maxNalBytes = parseBytes(options.maxNalBytes ?? '16MiB', '--max-nal-bytes');
    if (maxNalBytes < 1) throw new ConfigError('--max-nal-bytes: must be at least 1 byte');
    return { count, durationMs, maxNalBytes };
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, ExitCode.USAGE);
    throw err;
  }
}

/**
 * Runs `rearview nalu`. Resolves when the input ended or a stop condition
 * (--count, --duration, Ctrl-C, the reader of stdout going away) was reached;
 * rejects with a CliError for everything the user should see as one line.
 */
export async function runNalu(spec: string, options: NaluOptions, io: NaluIo = defaultIo()): Promise<void> {
  const { count, durationMs, maxNalBytes } = parseOptions(options);
  const json = options.json === true;
  const frames = options.frames === true;
  const summaryOnly = options.summary === true;
  const out = new NaluOutput(io.stdout);
  const stats = new NaluStats();
  const abort = new AbortController();
  out.onClose(() => abort.abort());

  let stopped = false; // a stop condition was reached: ignore everything after it
  let fatal: CliError | undefined;
  let printed = 0;
  let firstError: string | undefined;
  const countUnit = (): void => {
    if (count !== undefined && ++printed >= count) {
      stopped = true;
      abort.abort();
    }
  };

  // Arrival times of the chunks still referenced by unfinished access units (live sources).
  const chunkEnds: number[] = [];
  const chunkMono: number[] = [];
  const chunkWall: number[] = [];
  let chunkHead = 0;
  let firstMono: number | undefined;
  const timingOf = (au: AccessUnit): FrameTiming | undefined => {
    if (!live || firstMono === undefined) return undefined;
    const lastByte = au.offset + au.byteLength - 1;
    while (chunkHead < chunkEnds.length - 1 && chunkEnds[chunkHead]! <= lastByte) chunkHead++;
    return { arrivalMs: chunkMono[chunkHead]! - firstMono, arrivedAtMs: chunkWall[chunkHead]! };
  };

  const onNal = (nal: NalUnit): void => {
    if (stopped) return;
    stats.addNal(nal);
    if (summaryOnly || frames) return;
    out.line(json ? nalJson(nal, nalDetails(nal, parser)) : seedLine(nal));
    countUnit();
  };
  const onAccessUnit = (au: AccessUnit): void => {
    if (stopped) return;
    const timing = timingOf(au);
    stats.addAccessUnit(au, timing?.arrivalMs);
    if (frames) {
      if (!summaryOnly)
        out.line(json ? frameJson(stats.accessUnits - 1, au, timing) : frameLine(stats.accessUnits - 1, au, timing));
      countUnit();
    }
  };
  const onError = (err: H264Error): void => {
    if (stopped) return;
    if (err.code === 'ERR_H264_NAL_TOO_LARGE') {
      fatal ??= new CliError(`${err.message} (raise the limit with --max-nal-bytes)`, ExitCode.BAD_STREAM);
      stopped = true;
      abort.abort();
      return;
    }
    stats.errors++;
    firstError ??= err.message;
  };

  const source = openByteSource(spec, {
    retry: options.retry === true,
    signal: abort.signal,
    onDisconnect: (message) => {
      // A new connection is a new stream: close the last access unit of the old one.
      if (!stopped) parser.flush();
      io.stderr(`rearview: ${message}`);
    },
  });
  const live = source.live;
  const parser = new H264StreamParser({
    onNal,
    onAccessUnit,
    onError,
    maxNalBytes,
    reusesChunks: source.reusesChunks,
  });
  const removeInterrupt = io.onInterrupt(() => abort.abort());
  const timer = durationMs !== undefined ? setTimeout(() => abort.abort(), durationMs) : undefined;
  let searched = 0;
  // Tracked here: the parser forgets it on flush() (a reconnect starts a new stream).
  let sawStartCode = false;
  try {
    for await (const chunk of source) {
      stats.bytes += chunk.length;
      if (live) {
        const mono = performance.now();
        firstMono ??= mono;
        if (chunkHead > 1024) {
          chunkEnds.splice(0, chunkHead);
          chunkMono.splice(0, chunkHead);
          chunkWall.splice(0, chunkHead);
          chunkHead = 0;
        }
        chunkEnds.push(stats.bytes);
        chunkMono.push(mono);
        chunkWall.push(Date.now());
      }
      parser.push(chunk);
      if (fatal) throw fatal;
      if (parser.foundStartCode) sawStartCode = true;
      else if (!sawStartCode) {
        searched += chunk.length;
        if (searched >= START_CODE_SEARCH_BYTES) throw notH264(`no start code in the first 1 MiB of ${source.name}`);
      }
      if (stopped) break;
      out.flush();
      await out.drained();
    }
    // At the end of a file, the last NAL unit is complete; a live source cut by Ctrl-C or
    // --duration may have stopped mid-frame, so its unfinished tail is not reported.
    if (!stopped && !(live && abort.signal.aborted)) parser.flush();
    if (fatal) throw fatal;
    // A live source stopped by Ctrl-C or --duration before any video arrived is a normal stop
    // (an empty summary), not a bad stream.
    if (!sawStartCode && !parser.foundStartCode && !(live && abort.signal.aborted)) {
      throw notH264(
        stats.bytes === 0
          ? `${source.name} is empty`
          : `no start code in the ${stats.bytes} byte${stats.bytes === 1 ? '' : 's'} of ${source.name}`,
      );
    }
  } finally {
    if (timer) clearTimeout(timer);
    removeInterrupt();
  }
  if (summaryOnly) {
    const summary = stats.summary();
    if (json) out.line(JSON.stringify(summary));
    else for (const line of summaryText(summary)) out.line(line);
  }
  await out.end();
  if (firstError !== undefined) {
    io.stderr(`rearview: warning: ${stats.errors} stream error${stats.errors === 1 ? '' : 's'} (first: ${firstError})`);
  }
}

function notH264(message: string): CliError {
  return new CliError(`not an H.264 Annex-B stream: ${message}`, ExitCode.BAD_STREAM);
}

/** Parsed content of one NAL unit for --json (parse problems become `error`, never thrown). */
function nalDetails(nal: NalUnit, parser: H264StreamParser): NalDetails {
  try {
    switch (nal.type) {
      case 7:
        return { sps: parseSps(nal.data) };
      case 8:
        return { pps: parsePps(nal.data, (id) => parser.getSps(id)) };
      case 1:
      case 2:
      case 5:
        return {
          slice: parseSliceHeader(
            nal,
            (id) => parser.getPps(id),
            (id) => parser.getSps(id),
          ),
        };
      case 6: {
        const sei = describeSei(nal.data);
        return sei.error ? { sei: sei.messages, error: sei.error } : { sei: sei.messages };
      }
      default:
        return {};
    }
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}
