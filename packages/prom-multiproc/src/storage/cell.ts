/** Whoever must hear that a cell changed: a metrics file schedules a write, memory ignores it. */
export interface CellOwner {
  onDirty(cell: Cell): void;
}

/**
 * One series' value, held in memory. Metrics change `value` and `timestamp` directly and call
 * `owner.onDirty` only on the first change since the last write, so an `inc()` is a float add
 * and a flag test (the hot path the benchmark in tools/bench-hot-path.ts measures).
 */
export class Cell {
  value = 0;
  timestamp = 0;
  dirty = false;

  constructor(
    readonly owner: CellOwner,
    /** The owner's index of this cell (a file's entry, in file order; 0 in memory); changes when remove() rewrites the file. */
    public slot: number,
  ) {}
}
