// Listing the directory: which of its files are metrics files, by name. Everything that reads
// the directory (the scrape, compaction, the CLI) lists it this way, so all agree on its files.

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MultiprocessDirectoryError } from '../common/errors.js';
import { reportOnce } from '../common/report.js';
import { parseFileName, type ParsedFileName } from '../format/fileNames.js';

/** The metrics files of a directory, in name order, with their parsed names. */
export async function listMetricsFiles(dir: string): Promise<{ name: string; file: ParsedFileName }[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new MultiprocessDirectoryError(
      code === 'ENOENT'
        ? `${dir} does not exist: no metrics directory there; check PROM_MULTIPROC_DIR or --dir ("prom-multiproc clean" creates it)`
        : code === 'ENOTDIR'
          ? `${dir} is not a directory; point PROM_MULTIPROC_DIR or --dir at the metrics directory`
          : `cannot read the metrics directory ${dir} (${code ?? (error as Error).message}); check PROM_MULTIPROC_DIR or --dir, and that this process may read it`,
      dir,
    );
  }
  const files: { name: string; file: ParsedFileName }[] = [];
  for (const name of names.sort()) {
    const file = parseFileName(name);
    if (file !== undefined) files.push({ name, file });
    else if (LOOKS_LIKE_METRICS_FILE.test(name)) reportUnreadName(path.join(dir, name));
  }
  return files;
}

// Python's collector reads every `<type>_*.db`; a name of that shape that is not one of the
// forms read here (an identity with '_' in it, an unknown gauge mode) is said, not passed over.
const LOOKS_LIKE_METRICS_FILE = /^(counter|gauge|histogram|summary)_.*\.db$/;

function reportUnreadName(file: string): void {
  reportOnce(`name\u0000${file}`, new Error(
    `${file} is not read: a metrics file is named counter_<id>.db, histogram_<id>.db, summary_<id>.db or gauge_<mode>_<id>.db, ` +
      'with an <id> of letters, digits and . : @ + = - (no "_"), and one of the gauge modes. Rename it if its values belong in the scrape, or remove it.',
  ));
}
