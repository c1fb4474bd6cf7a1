// Finds an entry's key by its stored bytes, without making a string of them: a hash table whose
// keys are runs of 32-bit words (an entry's length word, key bytes and padding, see
// storedKeyWords). A directory holds the same few thousand keys in every worker's file, so
// after the first file nearly every entry is one hash over its words and one comparison of
// them, where a string per entry would cost a UTF-8 decode, a string hash and the garbage.
// A match compares every word, so two different keys whose hashes collide stay apart. Most
// files list their keys in the same order, so the key after the last one found is tried before any hash.
// The words of all keys are copied into a few large chunks, not an array each: a typed array
// and its buffer cost more than a key's words, and tens of thousands of them fill the heap.

/** A hash of `count` words of `words` from `start` on. */
export type WordsHash = (words: Int32Array, start: number, count: number) => number;

/** Multiply-rotate over the words (murmur3's mixing): cheap, and spreads keys that differ in one word. */
export const hashWords: WordsHash = (words, start, count) => {
  // Every step stays a 32-bit integer (`| 0`), so the optimized loop never leaves integer arithmetic.
  let hash = count | 0;
  const end = start + count;
  for (let i = start; i < end; i++) {
    let word = Math.imul(words[i]!, 0xcc9e2d51);
    word = Math.imul((word << 15) | (word >>> 17), 0x1b873593);
    hash ^= word;
    hash = (Math.imul((hash << 13) | (hash >>> 19), 5) + 0xe6546b64) | 0;
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  return hash ^ (hash >>> 13);
};

/** A key's words as stored: chunk[start, start + count), a copy that never moves. */
export interface StoredWords {
  readonly chunk: Int32Array;
  readonly start: number;
  readonly count: number;
}

/** A key in the table. */
export interface StoredKey<T> extends StoredWords {
  readonly hash: number;
  readonly value: T;
  /** The key that came after this one where it was last read: most files list their keys in one order. */
  follower: StoredKey<T> | undefined;
  /** The next key of the same bucket. */
  next: StoredKey<T> | undefined;
}

const INITIAL_BITS = 8;
/** Words per chunk (256 KiB): a wide directory's keys fill a few dozen; a larger key gets a chunk of its own. */
const CHUNK_WORDS = 64 * 1024;

export class StoredKeyTable<T> {
  private buckets: (StoredKey<T> | undefined)[] = new Array<StoredKey<T> | undefined>(1 << INITIAL_BITS).fill(undefined);
  private mask = (1 << INITIAL_BITS) - 1;
  size = 0;
  /** Where new keys' words go, and how much of it they fill. */
  private chunk = new Int32Array(0);
  private filled = 0;

  /** `hash`: tests force collisions with a poor one. */
  constructor(private readonly hash: WordsHash = hashWords) {}

  /**
   * The key stored as words[start, start + count). `after` is the key of the entry before, if
   * any: the key that followed it last time is tried first, with no hash, and the answer is
   * remembered as its follower for the next file.
   */
  find(words: Int32Array, start: number, count: number, after?: StoredKey<T>): StoredKey<T> | undefined {
    const predicted = after?.follower;
    if (predicted !== undefined && sameWords(predicted, words, start, count)) return predicted;
    const hash = this.hash(words, start, count);
    for (let key = this.buckets[hash & this.mask]; key !== undefined; key = key.next) {
      if (key.hash === hash && sameWords(key, words, start, count)) {
        if (after !== undefined) after.follower = key;
        return key;
      }
    }
    return undefined;
  }

  /** Stores `value` for a copy of the words (in the table's chunks), which find() did not find. */
  add(words: Int32Array, start: number, count: number, value: T, after?: StoredKey<T>): StoredKey<T> {
    if (this.size >= this.buckets.length) this.grow();
    const hash = this.hash(words, start, count);
    const index = hash & this.mask;
    if (this.filled + count > this.chunk.length) {
      this.chunk = new Int32Array(Math.max(CHUNK_WORDS, count));
      this.filled = 0;
    }
    const chunk = this.chunk;
    const at = this.filled;
    chunk.set(words.subarray(start, start + count), at);
    this.filled += count;
    const key: StoredKey<T> = { chunk, start: at, count, hash, value, follower: undefined, next: this.buckets[index] };
    this.buckets[index] = key;
    this.size++;
    if (after !== undefined) after.follower = key;
    return key;
  }

  private grow(): void {
    const old = this.buckets;
    this.buckets = new Array<StoredKey<T> | undefined>(old.length * 2).fill(undefined);
    this.mask = this.buckets.length - 1;
    for (let key of old) {
      while (key !== undefined) {
        const next = key.next;
        const index = key.hash & this.mask;
        key.next = this.buckets[index];
        this.buckets[index] = key;
        key = next;
      }
    }
  }
}

/** Whether `stored` is words[start, start + count). */
export function sameWords(stored: StoredWords, words: Int32Array, start: number, count: number): boolean {
  if (stored.count !== count) return false;
  const { chunk } = stored;
  const offset = stored.start - start;
  for (let i = start; i < start + count; i++) {
    if (chunk[offset + i] !== words[i]) return false;
  }
  return true;
}
