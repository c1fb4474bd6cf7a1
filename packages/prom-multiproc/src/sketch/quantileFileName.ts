// The side files of summary quantiles: quantiles_<identity>.pmq, one per process identity.
// Never *.db: Python's collector globs *.db and raises on a type it does not know, and our
// collector skips every name parseFileName rejects, as it rejects these.
import { identityProblem } from '../format/fileNames.js';

const PREFIX = 'quantiles_';
const SUFFIX = '.pmq';
// Written as `<file>.<pid>-<8 hex>.tmp` and renamed into place (fileNames.temporaryNameOf).
const TEMPORARY_NAME = /^(.+)\.(\d+)-[0-9a-f]{8}\.tmp$/;

export function quantileFileNameOf(identity: string): string {
  return `${PREFIX}${identity}${SUFFIX}`;
}

/** The identity a quantile file name stands for, or undefined for any other name. */
export function parseQuantileFileName(name: string): { id: string } | undefined {
  if (!name.startsWith(PREFIX) || !name.endsWith(SUFFIX)) return undefined;
  const id = name.slice(PREFIX.length, -SUFFIX.length);
  return identityProblem(id) === undefined ? { id } : undefined;
}

/** The quantile file and writer pid of one of its temporary names, or undefined for any other name. */
export function parseQuantileTemporaryName(name: string): { target: string; pid: number } | undefined {
  const match = TEMPORARY_NAME.exec(name);
  if (match === null || parseQuantileFileName(match[1]!) === undefined) return undefined;
  return { target: match[1]!, pid: Number(match[2]) };
}
