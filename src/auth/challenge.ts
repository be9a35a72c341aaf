/**
 * `WWW-Authenticate` parsing (RFC 7235): several challenges in one header or
 * several headers, quoted values with escapes, case-insensitive schemes and
 * parameter names.
 */
export interface Challenge {
  /** Lower-case scheme: `bearer`, `basic`, ... */
  scheme: string;
  params: Record<string, string>;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const MAX_HEADER = 16 * 1024;

/** Parses one or more WWW-Authenticate header values. Malformed parts are skipped, never thrown. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const v of values) out.push(...parseOne(String(v).slice(0, MAX_HEADER)));
  return out;
}

function parseOne(s: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = s.length;
  const skipWs = (): void => {
    while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && TCHAR.test(s[i] as string)) i++;
    return s.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skipWs();
    if (s[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const t = token();
    if (!t) {
      // Unexpected character: skip to the next comma.
      while (i < n && s[i] !== ',') i++;
      continue;
    }
    skipWs();
    if (s[i] === '=' && current && !/^=+\s*(,|$)/.test(s.slice(i))) {
      // auth-param of the current challenge
      i++;
      skipWs();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < n && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < n) i++;
          value += s[i];
          i++;
        }
        i++; // closing quote (or end)
      } else {
        const vs = i;
        while (i < n && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
        value = s.slice(vs, i);
      }
      // An own property even for "__proto__" (plain assignment would set the object's prototype instead).
      Object.defineProperty(current.params, t.toLowerCase(), { value, enumerable: true, writable: true, configurable: true });
      continue;
    }
    // A new challenge: scheme [token68 | params]
    current = { scheme: t.toLowerCase(), params: {} };
    out.push(current);
    skipWs();
    // token68 (e.g. `Negotiate abc==`): consume, not needed by registries
    const m = /^[A-Za-z0-9\-._~+/]+=*\s*(,|$)/.exec(s.slice(i));
    if (m && !/^[A-Za-z0-9\-._~+/]+\s*=[^=]/.test(s.slice(i))) {
      i += m[0].length;
    }
    if (i === start) i++;
  }
  return out;
}

/** Scopes named by an `insufficient_scope` or ordinary Bearer challenge (space-separated). */
export function challengeScopes(c: Challenge): string[] {
  return (c.params.scope ?? '').split(' ').filter(Boolean);
}
