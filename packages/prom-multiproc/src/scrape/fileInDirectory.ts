// A listed file's path, read for every file on every scrape: path.join normalizes the whole
// path each time (several microseconds while the scrape's code is still cold, thousands of
// times per scrape); the directory's part is normalized once and the name appended.
import * as path from 'node:path';

let lastDir: string | undefined;
let lastPrefix = '';

/** path.join(dir, name) for a listed file's name (no separator, not "." or ".."). */
export function fileInDirectory(dir: string, name: string): string {
  if (dir !== lastDir) {
    // The normalized directory with its trailing separator ("" for "." or ""), as join would write it.
    lastPrefix = path.join(dir, '_').slice(0, -1);
    lastDir = dir;
  }
  return lastPrefix + name;
}
