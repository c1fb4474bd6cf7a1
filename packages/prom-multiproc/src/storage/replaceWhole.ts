// The side files (quantiles, exemplars) are rewritten whole: under a temporary name no reader
// lists (fileNames.temporaryNameOf), then renamed over the old one, so a reader sees the old
// version or the new one, never a mix.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { temporaryNameOf } from '../format/fileNames.js';

// As the metrics files: the owner writes, the group (a scraper of the service's group) reads.
const FILE_MODE = 0o640;
// O_EXCL and O_NOFOLLOW: a symlink planted in a shared directory must not redirect our writes.
const CREATE_TEMPORARY = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** Replaces `file` with `bytes` at once; on an error the temporary file is removed and the error thrown. */
export function replaceWhole(file: string, bytes: Uint8Array): void {
  const temporary = temporaryNameOf(file, process.pid, randomBytes(4).toString('hex'));
  const fd = fs.openSync(temporary, CREATE_TEMPORARY, FILE_MODE);
  let open = true;
  try {
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written);
    open = false;
    fs.closeSync(fd);
    // A rename replaces a symlink planted under the name rather than writing through it.
    fs.renameSync(temporary, file);
  } catch (error) {
    if (open) fs.closeSync(fd);
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}
