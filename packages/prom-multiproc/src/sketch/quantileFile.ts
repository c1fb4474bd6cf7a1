// The bytes of a quantile side file (quantiles_<identity>.pmq): every summary series of one
// process identity, with its window's slots. The file is always written whole and renamed
// into place, so a reader sees one complete version; the checksums catch anything else.
//
//   4 bytes   "PMQF"
//   u8        version (1)
//   f64       when it was written (ms since the epoch)
//   varint    record count, then per record (one summary series):
//     varint    key length in bytes, then the key (UTF-8): the entry key of the series'
//               `_count` sample (pythonJson.ts entryKey), so a scrape joins them
//     varint    percentile count, then each as f64 (0 <= q <= 1)
//     f64       window length in ms (0: no window, the slots never age out)
//     varint    slot count, then per slot: f64 start (ms since the epoch) and a sketch
//               encoding (quantileSketch.ts, which carries its own length and checksum)
//   u32       CRC-32 of every byte before it
//
// Little-endian. Decoding checks every field and throws a SketchFormatError naming the first
// thing wrong; it never returns numbers read from damaged bytes.
import { parseEntryKey } from '../format/pythonJson.js';
import { ByteReader, ByteWriter, SketchFormatError } from './bytes.js';
import { QuantileSketch } from './quantileSketch.js';
import type { WindowSlot } from './slidingWindow.js';

const MAGIC = Buffer.from('PMQF', 'latin1');
const FORMAT_VERSION = 1;
/** More than any summary needs; a larger count is damage. */
const MAX_PERCENTILES = 1024;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** One summary series of one process. */
export interface QuantileRecord {
  key: string;
  percentiles: readonly number[];
  /** The window length; 0 when there is no window. */
  maxAgeMs: number;
  slots: readonly WindowSlot[];
}

export interface QuantileFileContents {
  writtenAtMs: number;
  records: QuantileRecord[];
}

export function encodeQuantileFile(contents: QuantileFileContents): Buffer {
  const out = new ByteWriter();
  out.bytes(MAGIC);
  out.u8(FORMAT_VERSION);
  out.f64(contents.writtenAtMs);
  out.varint(contents.records.length);
  for (const record of contents.records) {
    const key = Buffer.from(record.key, 'utf8');
    out.varint(key.length);
    out.bytes(key);
    out.varint(record.percentiles.length);
    for (const q of record.percentiles) out.f64(q);
    out.f64(record.maxAgeMs);
    out.varint(record.slots.length);
    for (const slot of record.slots) {
      out.f64(slot.startMs);
      slot.sketch.encodeInto(out);
    }
  }
  out.checksum();
  return out.finish();
}

/** Reads a quantile file; throws a SketchFormatError ("quantile file: ...") when anything is wrong. */
export function decodeQuantileFile(bytes: Uint8Array): QuantileFileContents {
  const reader = new ByteReader(bytes, 'quantile file');
  const magic = reader.bytesOf(MAGIC.length, 'magic');
  if (!MAGIC.equals(magic)) reader.fail(`does not start with "PMQF" (found ${JSON.stringify(Buffer.from(magic).toString('latin1'))}): not a quantile file`);
  const version = reader.u8('version');
  if (version !== FORMAT_VERSION) reader.fail(`version ${version}, this library reads version ${FORMAT_VERSION}`);
  const writtenAtMs = reader.f64('write time');
  if (!Number.isFinite(writtenAtMs)) reader.fail(`write time ${writtenAtMs} is not a finite time`);
  const count = reader.varint('record count');
  const records: QuantileRecord[] = [];
  for (let r = 1; r <= count; r++) {
    const where = `record ${r} of ${count}`;
    const keyBytes = reader.bytesOf(reader.varint(`${where}: key length`), `${where}: key`);
    let key: string;
    try {
      key = UTF8.decode(keyBytes);
      parseEntryKey(key);
    } catch (error) {
      reader.fail(`${where}: the key is not a series key (${(error as Error).message})`);
    }
    const percentileCount = reader.varint(`${where}: percentile count`);
    if (percentileCount > MAX_PERCENTILES) reader.fail(`${where}: ${percentileCount} percentiles, more than ${MAX_PERCENTILES}`);
    const percentiles: number[] = [];
    for (let i = 1; i <= percentileCount; i++) {
      const q = reader.f64(`${where}: percentile ${i}`);
      if (!(q >= 0 && q <= 1)) reader.fail(`${where}: percentile ${i} is ${q}, not from 0 to 1`);
      percentiles.push(q);
    }
    const maxAgeMs = reader.f64(`${where}: window length`);
    if (!(maxAgeMs >= 0 && Number.isFinite(maxAgeMs))) reader.fail(`${where}: window length ${maxAgeMs} is not a finite number of ms`);
    const slotCount = reader.varint(`${where}: slot count`);
    const slots: WindowSlot[] = [];
    for (let i = 1; i <= slotCount; i++) {
      const startMs = reader.f64(`${where}: start of slot ${i}`);
      if (!Number.isFinite(startMs)) reader.fail(`${where}: slot ${i} starts at ${startMs}, not a finite time`);
      let sketch: QuantileSketch;
      try {
        sketch = QuantileSketch.decodeFrom(reader);
      } catch (error) {
        if (!(error instanceof SketchFormatError)) throw error;
        reader.fail(`${where}, slot ${i}: ${error.message.replace(/^quantile file: /, '')}`);
      }
      if (i > 1 && sketch!.relativeAccuracy !== slots[0]!.sketch.relativeAccuracy) {
        reader.fail(`${where}: slot ${i} has relative accuracy ${sketch!.relativeAccuracy}, slot 1 ${slots[0]!.sketch.relativeAccuracy}`);
      }
      slots.push({ startMs, sketch: sketch! });
    }
    records.push({ key: key!, percentiles, maxAgeMs, slots });
  }
  reader.checksum();
  reader.end();
  return { writtenAtMs, records };
}
