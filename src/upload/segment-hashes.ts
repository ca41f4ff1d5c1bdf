/**
 * The hashes of a file to upload, computed in one sequential read and kept
 * in the upload queue (upload-queue.ts), so they are computed once and
 * reused: SHA-256 and MD5 of the whole file (metadata, verification) and of
 * each multipart part (each request's signed payload hash, Content-MD5 and
 * x-amz-checksum-sha256, and the resume check against ListParts). A file of
 * one part has one set (the part is the file).
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { BodyHashes } from './s3-client.js';

/** One part's size and hashes. */
export interface PartHashes extends BodyHashes {
  size: number;
}

/** What is known about the bytes of one file. */
export interface FileHashes extends BodyHashes {
  size: number;
  /** Part size used (every part but the last has it). */
  partBytes: number;
  /** One entry per part; one part when the file fits in one. */
  parts: PartHashes[];
}

const READ_BYTES = 1 << 20;

/**
 * Reads `size` bytes of `handle` from the start once and hashes them (whole
 * file and per part of `partBytes`), through `buffer` (the uploader's one
 * I/O buffer; a 1 MiB one of its own when not given).
 */
export async function hashFile(
  handle: FileHandle,
  size: number,
  partBytes: number,
  buffer?: Buffer,
): Promise<FileHashes> {
  const whole = { sha: createHash('sha256'), md5: createHash('md5') };
  const single = size <= partBytes;
  const parts: PartHashes[] = [];
  let part: { sha: Hash; md5: Hash; size: number } | undefined;
  const buf = buffer ?? Buffer.allocUnsafe(READ_BYTES);
  let pos = 0;
  while (pos < size) {
    if (!single && (part === undefined || part.size === partBytes)) {
      if (part) parts.push(finish(part));
      part = { sha: createHash('sha256'), md5: createHash('md5'), size: 0 };
    }
    const want = Math.min(buf.length, size - pos, single ? Infinity : partBytes - (part?.size ?? 0));
    const { bytesRead } = await handle.read(buf, 0, want, pos);
    if (bytesRead === 0)
      throw Object.assign(new Error(`the file ended at ${pos} of ${size} bytes`), { code: 'ESHORT' });
    const chunk = buf.subarray(0, bytesRead);
    whole.sha.update(chunk);
    whole.md5.update(chunk);
    if (part) {
      part.sha.update(chunk);
      part.md5.update(chunk);
      part.size += bytesRead;
    }
    pos += bytesRead;
  }
  const sha256Hex = whole.sha.digest('hex');
  const md5Hex = whole.md5.digest('hex');
  if (part) parts.push(finish(part));
  if (single) parts.push({ size, sha256Hex, md5Hex });
  return { size, sha256Hex, md5Hex, partBytes, parts };
}

function finish(p: { sha: Hash; md5: Hash; size: number }): PartHashes {
  return { size: p.size, sha256Hex: p.sha.digest('hex'), md5Hex: p.md5.digest('hex') };
}

/**
 * What S3 reports for the stored object, computed from the local hashes:
 * the SHA-256 checksum (whole file; for a multipart object, the SHA-256 of
 * the parts' SHA-256s with `-N`) and the ETag forms (MD5 of the file; for
 * multipart, the MD5 of the parts' MD5s with `-N`).
 */
export function expectedChecksums(h: FileHashes): { checksumSha256: string[]; etag: string[] } {
  const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');
  if (h.parts.length <= 1 && h.size <= h.partBytes) return { checksumSha256: [b64(h.sha256Hex)], etag: [h.md5Hex] };
  const n = h.parts.length;
  const composite = (alg: 'sha256' | 'md5', pick: (p: PartHashes) => string): string =>
    createHash(alg)
      .update(Buffer.concat(h.parts.map((p) => Buffer.from(pick(p), 'hex'))))
      .digest('hex');
  return {
    checksumSha256: [
      `${b64(composite('sha256', (p) => p.sha256Hex))}-${n}`,
      b64(composite('sha256', (p) => p.sha256Hex)),
    ],
    // Servers that do not follow S3's multipart ETag rule (s3rver) give the whole file's MD5.
    etag: [`${composite('md5', (p) => p.md5Hex)}-${n}`, h.md5Hex],
  };
}
