/**
 * What a guest hands back is hostile input: the guest runs a kernel and a root the host does not control once
 * booted, and writes into the shared directory. Its result.json is read without following a symlink, from a
 * regular file of bounded size, checked against the result's shape, and its identity fields that build host paths
 * (runId, startedAt) are replaced by the host's own.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { RESULT_SCHEMA, type ResultFile, type ScenarioName } from '../types.js';

/** A guest's result.json larger than this is refused (a real one is well under 1 MB per mode). */
export const MAX_GUEST_RESULT_BYTES = 32 << 20;
/** A mode's base64 histogram longer than this is refused (its inflated size is what a report would pay). */
const MAX_HISTOGRAM_CHARS = 1 << 20;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

export class GuestResultError extends Error {
  override name = 'GuestResultError';
}

/** Read a file the guest wrote: no symlink followed, a regular file only, at most `maxBytes`; null when absent. */
export async function readGuestFile(file: string, maxBytes: number): Promise<string | null> {
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new GuestResultError(`cannot open the guest's ${file}: ${(err as Error).message} (a symlink is refused)`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new GuestResultError(`the guest's ${file} is not a regular file`);
    if (st.size > maxBytes) throw new GuestResultError(`the guest's ${file} is ${st.size} bytes, more than the ${maxBytes} accepted`);
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await fh.read(buf, 0, st.size, 0);
    return buf.toString('utf8', 0, bytesRead);
  } finally {
    await fh.close();
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/**
 * Pure: the guest's result text checked as a result of `scenario`, with the host's run id and start time in place
 * of the guest's. A GuestResultError names the first thing wrong.
 */
export function checkGuestResult(text: string, expected: { scenario: ScenarioName; runId: string; startedAt: string }): ResultFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new GuestResultError(`the guest's result.json is not JSON: ${(err as Error).message}`);
  }
  const bad = (what: string): never => {
    throw new GuestResultError(`the guest's result.json is refused: ${what}`);
  };
  if (!isObject(data)) return bad('not an object');
  if (data['schema'] !== RESULT_SCHEMA) bad(`schema is not "${RESULT_SCHEMA}"`);
  if (data['scenario'] !== expected.scenario) bad(`scenario ${JSON.stringify(data['scenario'])} is not the one run (${expected.scenario})`);
  if (!isObject(data['environment'])) bad('no environment object');
  if (typeof data['finishedAt'] !== 'string' || !ISO_TIME.test(data['finishedAt'])) bad('finishedAt is not a UTC time');
  const modes = data['modes'];
  if (!Array.isArray(modes)) return bad('modes is not a list');
  for (const [i, m] of modes.entries()) {
    if (!isObject(m)) return bad(`modes[${i}] is not an object`);
    if (typeof m['mode'] !== 'string' || !/^[a-z0-9-]{1,40}$/.test(m['mode'])) bad(`modes[${i}].mode is not a mode name`);
    for (const k of ['attempts', 'succeeded', 'failed']) if (!isCount(m[k])) bad(`modes[${i}].${k} is not a count`);
    if ((m['succeeded'] as number) + (m['failed'] as number) !== m['attempts']) bad(`modes[${i}]: succeeded + failed is not attempts`);
    if (!Array.isArray(m['notes']) || !m['notes'].every((n) => typeof n === 'string')) bad(`modes[${i}].notes is not a list of strings`);
    if (typeof m['histogram'] !== 'string' || m['histogram'].length > MAX_HISTOGRAM_CHARS) bad(`modes[${i}].histogram is missing or too long`);
  }
  return { ...(data as unknown as ResultFile), runId: expected.runId, startedAt: expected.startedAt };
}
