/**
 * Per-registry authorization: learns the registry's challenge, asks the token
 * service for exactly the scopes a request needs, caches tokens per scope set
 * until shortly before expiry, and reacts to 401s (expired token,
 * `insufficient_scope`) by fetching a fresh token once.
 */
import { OcictlError } from '../errors.js';
import { type Challenge, parseChallenges } from './challenge.js';
import type { CredentialSource, Credentials } from './credentials.js';
import { mergeScopes } from './scope.js';
import { type Token, type TokenHttp, basicHeader, fetchToken } from './token.js';

export class Authorizer {
  private challenge: Challenge | undefined;
  private tokens = new Map<string, Promise<Token>>();
  private creds: Promise<Credentials | undefined> | undefined;

  constructor(
    private readonly host: string,
    private readonly credentials: CredentialSource,
    private readonly tokenHttp: TokenHttp,
  ) {}

  /** Credentials for this host (looked up once). */
  getCredentials(): Promise<Credentials | undefined> {
    this.creds ??= this.credentials.get(this.host);
    return this.creds;
  }

  /** Uses these credentials instead of the configured ones (login). */
  setCredentials(c: Credentials | undefined): void {
    this.creds = Promise.resolve(c);
    this.tokens.clear();
  }

  get knownChallenge(): Challenge | undefined {
    return this.challenge;
  }

  /** The Authorization header for a request needing `scopes`, or undefined before any challenge is known. */
  async header(scopes: string[], credentialsAllowed: boolean): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    const creds = credentialsAllowed ? await this.getCredentials() : undefined;
    if (ch.scheme === 'basic') {
      if (creds?.username !== undefined && creds.password !== undefined) return basicHeader(creds.username, creds.password);
      return undefined;
    }
    if (ch.scheme === 'bearer') {
      if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
      const token = await this.token(mergeScopes(scopes), creds);
      return `Bearer ${token.token}`;
    }
    return undefined;
  }

  private async token(scopes: string[], creds: Credentials | undefined): Promise<Token> {
    const key = scopes.join(' ') + (creds ? ' +creds' : ' anon');
    const cached = this.tokens.get(key);
    if (cached) {
      try {
        const t = await cached;
        if (t.expiresAt > Date.now()) return t;
      } catch {
        /* fetch again below */
      }
    }
    const ch = this.challenge as Challenge;
    const p = fetchToken(this.tokenHttp, {
      realm: ch.params.realm ?? '',
      ...(ch.params.service !== undefined ? { service: ch.params.service } : {}),
      scopes,
      ...(creds ? { credentials: creds } : {}),
    }, this.host);
    this.tokens.set(key, p);
    p.catch(() => this.tokens.delete(key));
    return p;
  }

  /**
   * Handles a 401: records the challenge, drops the token that failed.
   * Returns whether the request is worth one more try with new authorization.
   */
  async unauthorized(wwwAuthenticate: string | string[] | undefined, scopes: string[], sentAuthorization: string | undefined): Promise<boolean> {
    const challenges = parseChallenges(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    const basic = challenges.find((c) => c.scheme === 'basic');
    const chosen = bearer ?? basic;
    if (!chosen) return false;
    const hadSameScheme = this.challenge?.scheme === chosen.scheme;
    this.challenge = chosen;
    if (!sentAuthorization) return true;
    if (chosen.scheme === 'bearer') {
      // An expired token or insufficient scope: forget tokens for these scopes and try once more.
      const key = mergeScopes(scopes).join(' ');
      for (const k of [...this.tokens.keys()]) if (k.startsWith(key)) this.tokens.delete(k);
      return sentAuthorization.startsWith('Bearer') && !(await this.getCredentials())?.registryToken;
    }
    return !hadSameScheme;
  }

  /** Throws unless the registry accepts the credentials (used by login). */
  async verifyCredentials(c: Credentials): Promise<void> {
    const ch = this.challenge;
    if (!ch || ch.scheme !== 'bearer') return;
    await fetchToken(this.tokenHttp, {
      realm: ch.params.realm ?? '',
      ...(ch.params.service !== undefined ? { service: ch.params.service } : {}),
      scopes: [],
      credentials: c,
    }, this.host);
  }
}

export function unauthorizedError(host: string, hint?: string): OcictlError {
  return new OcictlError('UNAUTHORIZED', `${host}: authentication required`, { hint: hint ?? `run: ocictl login ${host}` });
}
