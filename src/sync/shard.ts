/**
 * Deterministic shards of a sync: `--shard i/n` keeps the (repository, tag)
 * pairs whose stable hash falls in bucket i, so n jobs, each given its own i,
 * together copy every image of the plan exactly once, whatever order they
 * run in and on whichever machine.
 */
import { createHash } from 'node:crypto';
import { OcictlError } from '../errors.js';

export interface Shard {
  /** 1-based, as CI systems number their jobs. */
  index: number;
  count: number;
}

/** Parses `i/n` (1 ≤ i ≤ n). */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count < 1 || index < 1 || index > count) {
    throw new OcictlError('INVALID_ARGUMENT', `--shard "${text}" is not i/n with 1 ≤ i ≤ n`, { hint: 'e.g. --shard 2/3 for the second of three jobs' });
  }
  return { index, count };
}

/** The shard (1..count) a source repository and tag (or digest) belong to: SHA-256 of `repo:tag`, first 8 bytes, modulo count. */
export function shardOf(repository: string, tagOrDigest: string, count: number): number {
  const h = createHash('sha256').update(`${repository}\n${tagOrDigest}`).digest();
  return Number(h.readBigUInt64BE(0) % BigInt(count)) + 1;
}

export function inShard(repository: string, tagOrDigest: string, shard: Shard | undefined): boolean {
  return !shard || shardOf(repository, tagOrDigest, shard.count) === shard.index;
}
