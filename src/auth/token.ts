/**
 * Bearer tokens from a registry's token service (Docker token auth, as Harbor
 * serves it at /service/token): GET with Basic credentials, or an OAuth2
 * refresh-token POST for `identitytoken` credentials with GET as fallback.
 */
import { OcictlError } from '../errors.js';
import type { Credentials } from './credentials.js';

export interface TokenRequest {
  realm: string;
  service?: string;
  scopes: string[];
  credentials?: Credentials;
}

export interface Token {
  token: string;
  /** Epoch ms after which the token is not used any more (a margin before its real expiry). */
  expiresAt: number;
  refreshToken?: string;
}

/** What the token client needs from the transport: one HTTP exchange, body read as text. */
export type TokenHttp = (req: { method: 'GET' | 'POST'; url: string; headers: Record<string, string>; body?: string }) => Promise<{ status: number; text: string }>;

const MAX_TOKEN_RESPONSE = 1024 * 1024;

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

export async function fetchToken(http: TokenHttp, req: TokenRequest, host: string): Promise<Token> {
  let realm: URL;
  try {
    realm = new URL(req.realm);
  } catch {
    throw new OcictlError('REGISTRY_ERROR', `${host} named a token service that is not a URL`, { hint: 'check the registry\'s auth configuration' });
  }
  if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
    throw new OcictlError('REGISTRY_ERROR', `${host} named a token service with scheme ${realm.protocol}`, { hint: 'the token realm must be http(s)' });
  }
  const creds = req.credentials;
  const started = Date.now();
  if (creds?.identityToken) {
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'ocictl' });
    if (req.service) body.set('service', req.service);
    if (req.scopes.length) body.set('scope', req.scopes.join(' '));
    const r = await http({ method: 'POST', url: realm.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
    if (r.status === 200) return parseTokenResponse(r.text, host, started);
    if (![400, 401, 404, 405].includes(r.status)) throw tokenFailure(r.status, host);
    // Token services without OAuth2 POST (Harbor answers 405): GET with the token as password.
  }
  const url = new URL(realm.toString());
  if (req.service) url.searchParams.set('service', req.service);
  for (const s of req.scopes) url.searchParams.append('scope', s);
  const headers: Record<string, string> = {};
  if (creds?.identityToken) {
    // The refresh token stands in for the password (docker keeps `auth` as "user:" beside it).
    if (creds.username) url.searchParams.set('account', creds.username);
    headers.authorization = basicHeader(creds.username || '<token>', creds.identityToken);
  } else if (creds?.username !== undefined && creds.password !== undefined) {
    url.searchParams.set('account', creds.username);
    headers.authorization = basicHeader(creds.username, creds.password);
  }
  const r = await http({ method: 'GET', url: url.toString(), headers });
  if (r.status !== 200) throw tokenFailure(r.status, host);
  return parseTokenResponse(r.text, host, started);
}

function tokenFailure(status: number, host: string): OcictlError {
  if (status === 401 || status === 403) {
    return new OcictlError('UNAUTHORIZED', `authentication to ${host} failed: the user name or password was not accepted`, { hint: `check them and run: ocictl login ${host}` });
  }
  return new OcictlError('REGISTRY_ERROR', `the token service of ${host} answered HTTP ${status}`, { hint: 'retry later, or check the registry\'s auth service' });
}

/** Parses a token service's answer; `requestedAt` (epoch ms) is when the request was sent. */
export function parseTokenResponse(text: string, host: string, requestedAt: number = Date.now()): Token {
  if (text.length > MAX_TOKEN_RESPONSE) throw new OcictlError('REGISTRY_ERROR', `the token service of ${host} sent an oversized response`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new OcictlError('REGISTRY_ERROR', `the token service of ${host} sent a response that is not JSON`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new OcictlError('REGISTRY_ERROR', `the token service of ${host} sent a response that is not a JSON object`);
  const o = v as Record<string, unknown>;
  const token = typeof o.token === 'string' && o.token ? o.token : typeof o.access_token === 'string' ? o.access_token : '';
  if (!token) throw new OcictlError('REGISTRY_ERROR', `the token service of ${host} sent no token`);
  if (/[\r\n]/.test(token) || token.length > 64 * 1024) throw new OcictlError('REGISTRY_ERROR', `the token service of ${host} sent a malformed token`);
  let lifetime = typeof o.expires_in === 'number' && Number.isFinite(o.expires_in) && o.expires_in > 0 ? o.expires_in : 60;
  lifetime = Math.min(lifetime, 24 * 3600);
  // Our own clock counts the lifetime: a server clock that is off must not make a token
  // look valid for longer. Harbor's expiry is in whole seconds, so keep at least 1 s spare.
  const issued = requestedAt;
  const margin = Math.min(30, Math.max(1, lifetime / 5));
  const out: Token = { token, expiresAt: issued + (lifetime - margin) * 1000 };
  if (typeof o.refresh_token === 'string' && o.refresh_token) out.refreshToken = o.refresh_token;
  return out;
}
