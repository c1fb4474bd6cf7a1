/**
 * Slots (0, 1, 2... in the order they are added) found by a 32-bit hash of their key, where
 * the key itself is kept elsewhere or not at all (a metrics file's bytes, a metric's labels):
 * the caller tells whether a candidate slot holds the key. 10 to 16 bytes a slot, where a Map
 * from key strings costs the strings and about 40 bytes an entry.
 */
export class SlotTable {
  /** Per slot, its hash. */
  private hashes: Int32Array = new Int32Array(16);
  /** Open addressing, linear probing: slot + 1, or 0 for none; at most three quarters full (lookups are rare: once per new series). */
  private table: Int32Array = new Int32Array(32);
  size = 0;

  /** The first slot of `hash` that `holdsKey` accepts, or -1. */
  find(hash: number, holdsKey: (slot: number) => boolean): number {
    const table = this.table;
    const mask = table.length - 1;
    for (let i = hash & mask; table[i] !== 0; i = (i + 1) & mask) {
      const slot = table[i]! - 1;
      if (this.hashes[slot] === hash && holdsKey(slot)) return slot;
    }
    return -1;
  }

  /** Adds the next slot, of `hash`; returns it. */
  add(hash: number): number {
    const slot = this.size++;
    if (slot === this.hashes.length) {
      const grown = new Int32Array(grownLength(slot));
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[slot] = hash;
    if (this.size * 4 > this.table.length * 3) {
      this.table = new Int32Array(this.table.length * 2);
      for (let each = 0; each < this.size; each++) this.place(each);
    } else {
      this.place(slot);
    }
    return slot;
  }

  clear(): void {
    this.size = 0;
    this.table.fill(0);
  }

  private place(slot: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let i = this.hashes[slot]! & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = slot + 1;
  }
}

/** The next length of per-slot arrays: half as long again, so that fewer slots stand empty than by doubling. */
export function grownLength(length: number): number {
  return length + (length >> 1) + 16;
}

/** A hash of a string's UTF-16 units (FNV-1a, then murmur3's final mix). */
export function hashString(text: string): number {
  let hash = 0x811c9dc5 ^ text.length;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  return hash ^ (hash >>> 13);
}
