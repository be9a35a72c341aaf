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
  /** Fetched because the previous token was refused: if this one is refused too, give up. */
  replacing: boolean;
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
    return this.fetchInto(key, scopes, creds, false);
  }

  private fetchInto(key: string, scopes: string[], creds: Credentials | undefined, replacing: boolean): Promise<Token> {
    const ch = this.challenge as Challenge;
    const entry: CachedToken = {
      promise: fetchToken(this.tokenHttp, {
        realm: ch.params.realm ?? '',
        ...(ch.params.service !== undefined ? { service: ch.params.service } : {}),
        scopes,
        ...(creds ? { credentials: creds } : {}),
      }, this.host),
      replacing,
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
      const creds = await this.getCredentials();
      if (creds?.registryToken) return false;
      if (this.challenge?.scheme !== 'bearer') return false;
      const merged = mergeScopes(scopes);
      for (const withCreds of [false, true]) {
        const key = Authorizer.key(merged, withCreds ? {} : undefined);
        const cached = this.tokens.get(key);
        // Another request may already have replaced this token: then just retry with the replacement.
        if (!cached || `Bearer ${cached.value}` !== sentAuthorization) continue;
        if (cached.replacing) {
          // The replacement was refused as well: this is final.
          this.tokens.delete(key);
          return false;
        }
        void this.fetchInto(key, merged, withCreds ? creds : undefined, true).catch(() => undefined);
      }
      return true;
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
