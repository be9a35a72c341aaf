/**
 * Where containerd listens, and a quick look at whether it does. This module
 * loads no gRPC code: the CLI may call it to choose the default store.
 */
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { OcictlError } from '../errors.js';

/** Where containerd listens unless told otherwise. */
export const DEFAULT_CONTAINERD_ADDRESS = '/run/containerd/containerd.sock';

/** containerd's socket: `$CONTAINERD_ADDRESS`, else {@link DEFAULT_CONTAINERD_ADDRESS}. */
export function defaultAddress(env: NodeJS.ProcessEnv = process.env): string {
  const a = env['CONTAINERD_ADDRESS'];
  return a && a.trim() ? a.trim() : DEFAULT_CONTAINERD_ADDRESS;
}

/** The filesystem path of an address given as a path or as `unix://PATH`. */
export function socketPath(address: string): string {
  const a = address.startsWith('unix://') ? address.slice('unix://'.length) : address.startsWith('unix:') ? address.slice('unix:'.length) : address;
  return path.resolve(a);
}

export type SocketState = 'ok' | 'missing' | 'denied' | 'not-socket' | 'refused' | 'timeout' | 'error';

export interface SocketCheck {
  state: SocketState;
  /** The socket's path. */
  path: string;
  /** Set when state is not 'ok': one line naming the socket, with a hint saying what to do. */
  error?: OcictlError;
}

const HINT_START = 'start containerd, pass --address SOCKET, or use --store local';
const HINT_ROOT = 'run with sudo, pass --address SOCKET, or use --store local';

function failure(state: Exclude<SocketState, 'ok'>, p: string, detail?: string): SocketCheck {
  const msg: Record<Exclude<SocketState, 'ok'>, [string, string]> = {
    missing: [`containerd socket ${p} does not exist`, HINT_START],
    denied: [`permission denied on containerd socket ${p}`, HINT_ROOT],
    'not-socket': [`${p} is not a socket, so not containerd's`, 'pass --address SOCKET, or use --store local'],
    refused: [`nothing listens on containerd socket ${p} (connection refused)`, HINT_START],
    timeout: [`containerd socket ${p} accepts no connection`, HINT_START],
    error: [`cannot connect to containerd socket ${p}${detail ? `: ${detail}` : ''}`, HINT_START],
  };
  const [m, hint] = msg[state];
  return { state, path: p, error: new OcictlError('CONTAINERD', m, { hint }) };
}

function errno(e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
}

/**
 * Checks that a Unix socket exists, may be opened, and accepts a connection.
 * It does not speak gRPC (see ContainerdClient.connect for that).
 */
export async function checkSocket(address: string, timeoutMs = 1000): Promise<SocketCheck> {
  const p = socketPath(address);
  try {
    const st = await fsp.stat(p);
    if (!st.isSocket()) return failure('not-socket', p);
  } catch (e) {
    const c = errno(e);
    if (c === 'ENOENT' || c === 'ENOTDIR') return failure('missing', p);
    if (c === 'EACCES' || c === 'EPERM') return failure('denied', p);
    return failure('error', p, c || String(e));
  }
  return new Promise<SocketCheck>((resolve) => {
    const s = net.connect({ path: p });
    const done = (r: SocketCheck) => {
      clearTimeout(t);
      s.removeAllListeners();
      s.on('error', () => {});
      s.destroy();
      resolve(r);
    };
    const t = setTimeout(() => done(failure('timeout', p)), timeoutMs);
    s.once('connect', () => done({ state: 'ok', path: p }));
    s.once('error', (e) => {
      const c = errno(e);
      if (c === 'EACCES' || c === 'EPERM') done(failure('denied', p));
      else if (c === 'ECONNREFUSED') done(failure('refused', p));
      else if (c === 'ENOENT') done(failure('missing', p));
      else if (c === 'ENOTSOCK') done(failure('not-socket', p));
      else done(failure('error', p, c || e.message));
    });
  });
}

/**
 * Whether something accepts connections on the socket; quick (at most
 * `timeoutMs`, 250 ms by default) and never throws. For choosing the default
 * store: a socket that is missing answers in well under a millisecond.
 */
export async function probeSocket(address: string, timeoutMs = 250): Promise<boolean> {
  try {
    return (await checkSocket(address, timeoutMs)).state === 'ok';
  } catch {
    return false;
  }
}
