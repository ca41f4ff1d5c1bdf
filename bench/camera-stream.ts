/**
 * Generates (once, cached in the OS temp folder) the camera-like H.264
 * stream the benchmarks read: 1280x720, 30 fps, about 8 Mbit/s, no B-frames,
 * SPS/PPS repeated before every keyframe, one keyframe a second, like the
 * Rearview's recording pipeline. Light noise on the test pattern keeps the
 * encoder at its bitrate instead of coasting on a static picture.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Options of {@link ensureCameraStream}. */
export interface CameraStreamOptions {
  /** Smallest acceptable file in bytes (default 100 MiB). */
  minBytes?: number;
  /** Seconds of video to encode (default 110: about 110 MB at 8 Mbit/s). */
  seconds?: number;
  /** ffmpeg binary (default /usr/bin/ffmpeg, else `ffmpeg` on PATH). */
  ffmpeg?: string;
}

/** The ffmpeg the benchmarks use as generator and as the peer to compare with. */
export function findFfmpeg(): string {
  return existsSync('/usr/bin/ffmpeg') ? '/usr/bin/ffmpeg' : 'ffmpeg';
}

/** Returns the path of the cached stream, encoding it first when missing or too small. */
export function ensureCameraStream(options: CameraStreamOptions = {}): string {
  const minBytes = options.minBytes ?? 100 * 1024 * 1024;
  let seconds = options.seconds ?? 110;
  const dir = join(tmpdir(), 'rearview-bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `camera-720p30-8M-${minBytes}.h264`);
  if (existsSync(file) && statSync(file).size >= minBytes) return file;
  const ffmpeg = options.ffmpeg ?? findFfmpeg();
  for (let attempt = 0; attempt < 3; attempt++) {
    const partial = `${file}.partial`;
    process.stderr.write(`bench: encoding ${seconds} s of 720p30 at 8 Mbit/s into ${file} ...\n`);
    const r = spawnSync(
      ffmpeg,
      [
        '-v',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=1280x720:rate=30',
        '-t',
        String(seconds),
        '-vf',
        'noise=alls=12:allf=t',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-bf',
        '0',
        '-b:v',
        '8M',
        '-maxrate',
        '8M',
        '-bufsize',
        '8M',
        '-g',
        '30',
        '-keyint_min',
        '30',
        '-sc_threshold',
        '0',
        '-pix_fmt',
        'yuv420p',
        '-x264-params',
        'repeat-headers=1',
        '-f',
        'h264',
        partial,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (r.status !== 0) throw new Error(`ffmpeg failed to encode the benchmark stream (exit ${r.status})`);
    const size = statSync(partial).size;
    if (size >= minBytes) {
      renameSync(partial, file);
      return file;
    }
    // The encoder undershot the bitrate: encode proportionally longer.
    seconds = Math.ceil((seconds * minBytes * 1.05) / size);
  }
  throw new Error('could not produce a large enough benchmark stream');
}
