/**
 * makeDirectory: `mkdir -p` that always ends. Node's `mkdir(path, {
 * recursive: true })` loops for ever, at full CPU, when mkdir says ENOENT
 * although the parent exists (a path under /proc, or below a dangling
 * symbolic link): it takes ENOENT to mean "parent missing", creates the
 * parent (EEXIST, fine), tries again, and so on. The promise never settles
 * and the daemon cannot even stop. Here each level is tried at most twice.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * Creates `path` and any missing parents (mode 0777 & ~umask, like mkdir -p);
 * resolves when it is a folder. Rejects with the system error (ENOENT,
 * EACCES, EROFS, ENOTDIR, ...) naming the path that could not be made;
 * EEXIST becomes ENOTDIR when what exists is not a folder.
 */
export async function makeDirectory(path: string): Promise<void> {
  const target = resolve(path);
  try {
    await mkdir(target);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return checkIsDirectory(target, err);
    const parent = dirname(target);
    if (code !== 'ENOENT' || parent === target) throw err;
  }
  await makeDirectory(dirname(target));
  // The parent exists now: a second ENOENT is final (procfs, a link to nowhere).
  try {
    await mkdir(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return checkIsDirectory(target, err);
    throw err;
  }
}

/** `path` exists: fine if it is a folder (or a link to one); a dangling link is ENOENT, anything else ENOTDIR. */
async function checkIsDirectory(path: string, cause: unknown): Promise<void> {
  const st = await stat(path);
  if (st.isDirectory()) return;
  throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`, { cause }), { code: 'ENOTDIR', path });
}
