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

interface CachedToken {
  promise: Promise<Token>;
  /** The token once fetched (to tell whether a refused request carried this one or an older one). */
  value?: string;
}

export class Authorizer {
  private challenge: Challenge | undefined;
  private tokens = new Map<string, CachedToken>();
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

  private static key(scopes: string[], creds: Credentials | undefined): string {
    return `${scopes.join(' ')}${creds ? ' +creds' : ' anon'}`;
  }

  private async token(scopes: string[], creds: Credentials | undefined): Promise<Token> {
    const key = Authorizer.key(scopes, creds);
    const cached = this.tokens.get(key);
    if (cached) {
      try {
        const t = await cached.promise;
        if (t.expiresAt > Date.now()) return t;
      } catch {
        /* fetch again below */
      }
      // Expired (or failed): fetch a new one unless another request already did.
      if (this.tokens.get(key) !== cached) return this.token(scopes, creds);
    }
    const ch = this.challenge as Challenge;
    const entry: CachedToken = {
      promise: fetchToken(this.tokenHttp, {
        realm: ch.params.realm ?? '',
        ...(ch.params.service !== undefined ? { service: ch.params.service } : {}),
        scopes,
        ...(creds ? { credentials: creds } : {}),
      }, this.host),
    };
    this.tokens.set(key, entry);
    entry.promise.then(
      (t) => {
        entry.value = t.token;
      },
      () => {
        if (this.tokens.get(key) === entry) this.tokens.delete(key);
      },
    );
    return entry.promise;
  }

  /**
   * Handles a 401: records the challenge and drops the token that was refused.
   * Returns whether the request is worth one more try with new authorization
   * (the caller tries once; a second 401 is final).
   */
  async unauthorized(wwwAuthenticate: string | string[] | undefined, scopes: string[], sentAuthorization: string | undefined): Promise<boolean> {
    const challenges = parseChallenges(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (!sentAuthorization) {
      const chosen = bearer ?? basic;
      if (!chosen) return false;
      this.challenge = chosen;
      return true;
    }
    if (/^bearer /i.test(sentAuthorization)) {
      // A token was refused: expired, revoked, or too narrow (distribution says
      // error="insufficient_scope"; Harbor answers `Basic realm="harbor"` to any
      // refused request that carried a token). Stay with the token service and
      // ask it once more: the permissions may have changed since.
      if (bearer) this.challenge = bearer;
      if ((await this.getCredentials())?.registryToken) return false;
      const merged = mergeScopes(scopes);
      for (const key of [Authorizer.key(merged, undefined), `${merged.join(' ')} +creds`]) {
        const cached = this.tokens.get(key);
        if (cached && `Bearer ${cached.value}` === sentAuthorization) this.tokens.delete(key);
      }
      return this.challenge?.scheme === 'bearer';
    }
    // Basic credentials were refused: only a switch to a token service can help.
    if (bearer && this.challenge?.scheme !== 'bearer') {
      this.challenge = bearer;
      return true;
    }
    return false;
  }

  /** Throws unless the registry accepts the credentials (used by login); the token is kept for the next request. */
  async verifyCredentials(c: Credentials): Promise<void> {
    const ch = this.challenge;
    if (!ch || ch.scheme !== 'bearer') return;
    this.setCredentials(c);
    await this.token([], c);
  }
}

export function unauthorizedError(host: string, hint?: string): OcictlError {
  return new OcictlError('UNAUTHORIZED', `${host}: authentication required`, { hint: hint ?? `run: ocictl login ${host}` });
}
