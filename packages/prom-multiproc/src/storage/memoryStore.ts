import type { FileKind } from '../format/fileNames.js';
import type { RawEntry } from '../format/decode.js';
import { defaultIdentity } from '../directory/identity.js';
import { Cell, type CellOwner } from './cell.js';
import { SlotTable, hashString } from './slotTable.js';
import { wallClockSeconds, type EntryKeySource, type SeriesStore, type StoreOptions } from './store.js';

/**
 * The series of one file kind, in the order they were created, found by a hash of their key.
 * A key given with its source is not kept: the source makes it again when a hash matches
 * (rarely: a metric asks once per label set) and for entries().
 */
class KindSeries {
  readonly cells: Cell[] = [];
  /** Per cell: its key, or what makes it from `args` at the same index. */
  readonly sources: (string | EntryKeySource<unknown>)[] = [];
  readonly args: unknown[] = [];
  readonly slots = new SlotTable();

  keyAt(index: number): string {
    const source = this.sources[index]!;
    return typeof source === 'string' ? source : source.keyOf(this.args[index]);
  }

  find(key: string, hash: number): Cell | undefined {
    const index = this.slots.find(hash, (slot) => this.keyAt(slot) === key);
    return index < 0 ? undefined : this.cells[index];
  }

  add(cell: Cell, hash: number, source: string | EntryKeySource<unknown>, arg: unknown): void {
    this.slots.add(hash);
    this.cells.push(cell);
    this.sources.push(source);
    this.args.push(arg);
  }
}

/** Series kept in this process only: single-process mode, and unit tests of metric code. */
export class MemoryStore implements SeriesStore, CellOwner {
  readonly identity: string;
  readonly dir = undefined;
  readonly now: () => number;
  private readonly kinds = new Map<FileKind, KindSeries>();

  constructor(options: StoreOptions = {}) {
    this.identity = String(options.identity ?? defaultIdentity());
    this.now = options.now ?? wallClockSeconds;
  }

  cell<A>(kind: FileKind, key: string, source?: EntryKeySource<A>, arg?: A): Cell {
    let series = this.kinds.get(kind);
    if (series === undefined) {
      series = new KindSeries();
      this.kinds.set(kind, series);
    }
    const hash = hashString(key);
    let cell = series.find(key, hash);
    if (cell === undefined) {
      cell = new Cell(this, 0);
      series.add(cell, hash, (source as EntryKeySource<unknown> | undefined) ?? key, arg);
    }
    return cell;
  }

  onDirty(cell: Cell): void {
    // Nothing to write; staying dirty keeps later changes from calling here at all.
    cell.dirty = true;
  }

  flush(): void {}

  removeEntries(kind: FileKind, match: (key: string) => boolean): number {
    const series = this.kinds.get(kind);
    if (series === undefined) return 0;
    const kept = new KindSeries();
    for (let i = 0; i < series.cells.length; i++) {
      const key = series.keyAt(i);
      if (!match(key)) kept.add(series.cells[i]!, hashString(key), series.sources[i]!, series.args[i]);
    }
    const removed = series.cells.length - kept.cells.length;
    if (removed > 0) this.kinds.set(kind, kept);
    return removed;
  }

  close(): void {}

  entries(): Map<FileKind, RawEntry[]> {
    const result = new Map<FileKind, RawEntry[]>();
    for (const [kind, series] of this.kinds) {
      result.set(kind, series.cells.map((cell, i) => ({ key: series.keyAt(i), value: cell.value, timestamp: cell.timestamp })));
    }
    return result;
  }
}
