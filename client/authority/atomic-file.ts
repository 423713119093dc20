// Writes a file so that a reader sees the old content or the new, never half of it: 0600 temp file, fsync, rename.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HotlineError } from '../../shared/index.ts';

/**
 * Puts `text` at `file` atomically, mode 0600. 'replace' renames over whatever is there; 'create' hard-links the
 * temp file into place, so it refuses an existing file even when two processes race (CONFLICT). Any other failure
 * is BAD_INPUT "cannot write `what`" (`file` unless a caller names it in its user's terms).
 * @example writeFileAtomic('/home/cert/.hotline/authority/rosters/CN-v2.json', json, 'create')
 */
export function writeFileAtomic(file: string, text: string, mode: 'create' | 'replace', what = file): void {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = fs.openSync(temp, 'wx', 0o600);
    try {
      fs.writeFileSync(fd, text, 'utf8');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (mode === 'create') {
      try {
        fs.linkSync(temp, file);
      } catch (cause) {
        if (errnoCode(cause) === 'EEXIST') throw new HotlineError('CONFLICT', `${file} already exists`);
        throw cause;
      }
      fs.unlinkSync(temp);
    } else {
      fs.renameSync(temp, file);
    }
    fs.chmodSync(file, 0o600);
    syncDirectory(dir);
  } catch (cause) {
    fs.rmSync(temp, { force: true });
    if (cause instanceof HotlineError) throw cause;
    throw ioError(`cannot write ${what}`, cause);
  }
}

/** Creates `dir` (and its parents) for this user only. */
export function ensurePrivateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
  } catch (cause) {
    throw ioError(`cannot create ${dir}`, cause);
  }
}

/** BAD_INPUT naming the errno (ENOENT, EACCES…) of a failed file operation. */
export function ioError(what: string, cause: unknown): HotlineError {
  const code = errnoCode(cause);
  return new HotlineError('BAD_INPUT', code === null ? what : `${what} (${code})`, { cause });
}

/** The errno code (ENOENT, EEXIST…) a failed file operation threw, or null when it carries none. */
export function errnoCode(cause: unknown): string | null {
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') return cause.code;
  return null;
}

// The rename is durable only once the directory entry is on disk; some platforms cannot fsync a directory.
function syncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}
