/** Registry error bodies (`{"errors":[{code,message,detail}]}`) turned into one-line typed errors. */
import { type ErrorCode, RegistryError } from '../errors.js';

export interface RegistryErrorItem {
  code: string;
  message: string;
  detail?: unknown;
}

export function parseErrorBody(text: string): RegistryErrorItem[] {
  if (!text) return [];
  try {
    const v = JSON.parse(text) as { errors?: unknown };
    if (v && Array.isArray(v.errors)) {
      return v.errors
        .filter((e): e is Record<string, unknown> => !!e && typeof e === 'object')
        .map((e) => ({ code: String(e.code ?? ''), message: String(e.message ?? '').slice(0, 500), ...(e.detail !== undefined ? { detail: e.detail } : {}) }));
    }
  } catch {
    /* not JSON */
  }
  return [];
}

export interface ErrorContext {
  host: string;
  /** What was being done: `pull docker.io/library/nginx:1.23.1`, `push ...`. */
  what: string;
  /** Whether the request was part of a push (Harbor's opaque 401s are explained). */
  push?: boolean;
  /** Whether credentials were available. */
  authenticated?: boolean;
}

function codeFor(status: number, items: RegistryErrorItem[]): ErrorCode {
  const c = items[0]?.code ?? '';
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 404 || /_UNKNOWN$/.test(c)) return 'NOT_FOUND';
  if (status === 412) return 'PRECONDITION';
  if (status === 429) return 'TOO_MANY_REQUESTS';
  if (c === 'DIGEST_INVALID') return 'DIGEST_MISMATCH';
  if (c === 'MANIFEST_INVALID' || c === 'MANIFEST_BLOB_UNKNOWN') return 'MANIFEST_INVALID';
  return 'REGISTRY_ERROR';
}

/** Builds the error for a failed registry response; `text` is the response body (empty for HEAD). */
export function registryError(status: number, text: string, ctx: ErrorContext): RegistryError {
  const items = parseErrorBody(text);
  const code = codeFor(status, items);
  const regMsg = items.map((e) => (e.message ? `${e.code ? `${e.code.toLowerCase()}: ` : ''}${e.message}` : e.code)).filter(Boolean).join('; ');
  let message = `${ctx.what}: ${regMsg || `HTTP ${status}`}`;
  let hint: string | undefined;
  switch (code) {
    case 'UNAUTHORIZED':
      if (ctx.push && ctx.authenticated) {
        hint = `the project may not exist on ${ctx.host} (create it first), or this account lacks push permission on it (a robot account may be scoped to another project)`;
      } else if (ctx.authenticated) {
        hint = `the account has no access to this repository, or the credentials expired; run: ocictl login ${ctx.host}`;
      } else {
        hint = `run: ocictl login ${ctx.host}`;
      }
      break;
    case 'DENIED':
      if (!regMsg) hint = `the account is not allowed to do this on ${ctx.host}`;
      break;
    case 'NOT_FOUND':
      if (!regMsg) message = `${ctx.what}: not found`;
      hint = 'check the repository name and tag';
      break;
    case 'TOO_MANY_REQUESTS':
      hint = 'the registry is rate-limiting; retry later';
      break;
    default:
      break;
  }
  return new RegistryError(code, message, status, items, hint ? { hint } : undefined);
}
