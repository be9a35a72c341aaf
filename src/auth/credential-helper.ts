/**
 * Docker credential helpers: `docker-credential-<name> get|store|erase|list`.
 * Secrets go through stdin/stdout only, never through arguments or errors.
 */
import { spawn } from 'node:child_process';
import { OcictlError } from '../errors.js';

export interface HelperCredentials {
  ServerURL?: string;
  Username: string;
  Secret: string;
}

const NOT_FOUND = /credentials not found/i;

async function runHelper(name: string, action: string, input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT') {
        reject(new OcictlError('CREDENTIAL_HELPER', `credential helper ${bin} was not found in PATH`, {
          hint: `install it, or remove "${name}" from credsStore/credHelpers in the Docker config.json`,
        }));
      } else reject(new OcictlError('CREDENTIAL_HELPER', `credential helper ${bin} could not be run: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

function failure(name: string, action: string, r: { stdout: string; stderr: string }): OcictlError {
  // Helpers print their error on stdout; keep it short and never echo our input.
  const msg = (r.stdout.trim() || r.stderr.trim()).split('\n')[0]?.slice(0, 200) ?? '';
  return new OcictlError('CREDENTIAL_HELPER', `credential helper docker-credential-${name} ${action} failed${msg ? `: ${msg}` : ''}`);
}

export async function helperGet(name: string, serverURL: string): Promise<HelperCredentials | undefined> {
  const r = await runHelper(name, 'get', serverURL);
  if (r.code !== 0) {
    if (NOT_FOUND.test(r.stdout) || NOT_FOUND.test(r.stderr)) return undefined;
    throw failure(name, 'get', r);
  }
  try {
    const v = JSON.parse(r.stdout) as Partial<HelperCredentials>;
    if (typeof v.Secret !== 'string') throw new Error('no Secret');
    return { ServerURL: v.ServerURL ?? serverURL, Username: typeof v.Username === 'string' ? v.Username : '', Secret: v.Secret };
  } catch {
    throw new OcictlError('CREDENTIAL_HELPER', `credential helper docker-credential-${name} get answered something that is not credentials JSON`);
  }
}

export async function helperStore(name: string, creds: HelperCredentials): Promise<void> {
  const r = await runHelper(name, 'store', JSON.stringify(creds));
  if (r.code !== 0) throw failure(name, 'store', r);
}

export async function helperErase(name: string, serverURL: string): Promise<void> {
  const r = await runHelper(name, 'erase', serverURL);
  if (r.code !== 0 && !(NOT_FOUND.test(r.stdout) || NOT_FOUND.test(r.stderr))) throw failure(name, 'erase', r);
}

export async function helperList(name: string): Promise<Record<string, string>> {
  const r = await runHelper(name, 'list', '');
  if (r.code !== 0) throw failure(name, 'list', r);
  try {
    const v = JSON.parse(r.stdout || '{}') as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, string>;
  } catch {
    throw new OcictlError('CREDENTIAL_HELPER', `credential helper docker-credential-${name} list answered invalid JSON`);
  }
}
