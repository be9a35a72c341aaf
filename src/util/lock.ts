/**
 * A cross-process lock file: created with O_EXCL and holding the owner's PID.
 * A lock whose owner is dead (kill -9) is taken over.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { OcictlError } from '../errors.js';

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function withLock<T>(lockPath: string, fn: () => Promise<T>, options: { timeoutMs?: number; what?: string } = {}): Promise<T> {
  const release = await acquireLock(lockPath, options);
  try {
    return await fn();
  } finally {
    await release();
  }
}

export async function acquireLock(lockPath: string, options: { timeoutMs?: number; what?: string } = {}): Promise<() => Promise<void>> {
  const token = `${process.pid} ${randomBytes(6).toString('hex')}`;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let delay = 5;
  for (;;) {
    try {
      const fh = await fs.open(lockPath, 'wx', 0o600);
      await fh.writeFile(token);
      await fh.close();
      return async () => {
        try {
          const cur = await fs.readFile(lockPath, 'utf8');
          if (cur === token) await fs.unlink(lockPath);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    // Someone holds it: take it over if the holder is dead.
    try {
      const cur = await fs.readFile(lockPath, 'utf8');
      const pid = Number(cur.split(' ')[0]);
      if (cur.length > 0 && !pidAlive(pid)) {
        const again = await fs.readFile(lockPath, 'utf8').catch(() => '');
        if (again === cur) await fs.unlink(lockPath).catch(() => undefined);
        continue;
      }
      if (cur.length === 0) {
        // Being written right now, or a crash between create and write: give it a moment.
        const st = await fs.stat(lockPath).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs > 5000) await fs.unlink(lockPath).catch(() => undefined);
      }
    } catch {
      continue;
    }
    if (Date.now() > deadline) {
      throw new OcictlError('LOCKED', `timed out waiting for the lock ${lockPath}${options.what ? ` (${options.what})` : ''}`, {
        hint: 'another ocictl process holds it; if none is running, remove the file',
      });
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 100);
  }
}
