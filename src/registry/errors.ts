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

/** Harbor serialises some messages twice (`msg: msg`); show them once. */
export function undouble(msg: string): string {
  const m = msg.trim();
  if (m.length % 2 !== 0) return m;
  const half = (m.length - 2) / 2;
  if (half > 0 && m.slice(half, half + 2) === ': ' && m.slice(0, half) === m.slice(half + 2)) return m.slice(0, half);
  return m;
}

/** One line of the registry's own words: `code: message` per item, deduplicated, control characters removed. */
function registryMessage(items: RegistryErrorItem[]): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const e of items) {
    const msg = undouble(e.message.replace(/[\u0000-\u001f\u007f]+/g, ' '));
    const code = e.code.replace(/[^A-Za-z0-9_]/g, '').toLowerCase();
    let text = msg ? msg : code;
    // Codes that only repeat what the status says are left out when a message says more.
    if (msg && code && !['unauthorized', 'denied', 'unknown', 'precondition', 'projectpolicyviolation', 'toomanyrequests', 'too_many_requests'].includes(code) && !msg.toLowerCase().startsWith(code.replace(/_/g, ' '))) text = `${code}: ${msg}`;
    if (text && !seen.has(text)) {
      seen.add(text);
      parts.push(text);
    }
  }
  return parts.join('; ');
}

/** What to do next for Harbor's policy errors, recognised by their message. */
function policyHint(status: number, items: RegistryErrorItem[], ctx: ErrorContext): string | undefined {
  const text = items.map((e) => `${e.code} ${e.message}`).join(' ');
  if (status === 412 && /immutable/i.test(text)) return 'the tag is immutable on this Harbor: push under a new tag, or ask a project admin to change the tag immutability rule';
  if (status === 412 && /vulnerabilit/i.test(text)) return 'the project\'s vulnerability policy blocks this pull: fix the image, or ask a project admin to allowlist the CVEs';
  if (status === 412 && /not signed|signature|cosign|notation/i.test(text)) return 'the project only serves signed images: sign the image (e.g. cosign sign) and pull again';
  if (status === 412 && /PROJECTPOLICYVIOLATION/.test(text)) return 'a policy of the project forbids this; ask a project admin';
  if (status === 403 && /quota/i.test(text)) return 'the project\'s storage quota is exhausted: delete unused artifacts, or ask an admin to raise the quota';
  if (status === 403 && /proxy project|proxy-cache|proxy cache/i.test(text)) return 'proxy-cache projects are read-only: push to a normal project';
  if (status === 403 && ctx.push) return `the account is not allowed to push there on ${ctx.host}`;
  return undefined;
}

/** Builds the error for a failed registry response; `text` is the response body (empty for HEAD). */
export function registryError(status: number, text: string, ctx: ErrorContext): RegistryError {
  const items = parseErrorBody(text);
  const code = codeFor(status, items);
  const regMsg = registryMessage(items);
  let message = `${ctx.what}: ${regMsg || `HTTP ${status}`}`;
  let hint: string | undefined = policyHint(status, items, ctx);
  switch (code) {
    case 'UNAUTHORIZED':
      if (ctx.push && ctx.authenticated) {
        hint = `the project may not exist on ${ctx.host} (create it first), or this account lacks push permission on it (a robot account may be scoped to another project)`;
      } else if (ctx.push) {
        hint = `log in first (ocictl login ${ctx.host}); the project must also exist on ${ctx.host}`;
      } else if (ctx.authenticated) {
        hint = `the project or repository may not exist, or the account has no access to it, or the credentials expired; check the name, or run: ocictl login ${ctx.host}`;
      } else {
        hint = `the repository may be private or not exist; run: ocictl login ${ctx.host}`;
      }
      break;
    case 'DENIED':
      if (!hint && !regMsg) hint = `the account is not allowed to do this on ${ctx.host}`;
      break;
    case 'NOT_FOUND':
      if (!regMsg) message = `${ctx.what}: not found`;
      hint = 'check the repository name and tag';
      break;
    case 'TOO_MANY_REQUESTS':
      hint = 'the registry (or the upstream of a proxy-cache project) is rate-limiting; retry later';
      break;
    default:
      break;
  }
  return new RegistryError(code, message, status, items, hint ? { hint } : undefined);
}
