import type { FileKind } from '../format/fileNames.js';
import type { RawEntry } from '../format/decode.js';
import { defaultIdentity } from '../directory/identity.js';
import { Cell, type CellOwner } from './cell.js';
import { wallClockSeconds, type SeriesStore, type StoreOptions } from './store.js';

/** Series kept in this process only: single-process mode, and unit tests of metric code. */
export class MemoryStore implements SeriesStore, CellOwner {
  readonly identity: string;
  readonly dir = undefined;
  readonly now: () => number;
  private readonly kinds = new Map<FileKind, Map<string, Cell>>();

  constructor(options: StoreOptions = {}) {
    this.identity = String(options.identity ?? defaultIdentity());
    this.now = options.now ?? wallClockSeconds;
  }

  cell(kind: FileKind, key: string): Cell {
    let cells = this.kinds.get(kind);
    if (cells === undefined) {
      cells = new Map();
      this.kinds.set(kind, cells);
    }
    let cell = cells.get(key);
    if (cell === undefined) {
      cell = new Cell(this, 0);
      cells.set(key, cell);
    }
    return cell;
  }

  onDirty(cell: Cell): void {
    // Nothing to write; staying dirty keeps later changes from calling here at all.
    cell.dirty = true;
  }

  flush(): void {}

  removeEntries(kind: FileKind, match: (key: string) => boolean): number {
    const cells = this.kinds.get(kind);
    if (cells === undefined) return 0;
    let removed = 0;
    for (const key of [...cells.keys()]) {
      if (!match(key)) continue;
      cells.delete(key);
      removed++;
    }
    return removed;
  }

  close(): void {}

  entries(): Map<FileKind, RawEntry[]> {
    const result = new Map<FileKind, RawEntry[]>();
    for (const [kind, cells] of this.kinds) {
      result.set(kind, Array.from(cells, ([key, cell]) => ({ key, value: cell.value, timestamp: cell.timestamp })));
    }
    return result;
  }
}
