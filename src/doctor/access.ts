/**
 * Credentials and permissions: where SERVER's credentials come from
 * (config.json, a credential helper, none), whether the registry accepts
 * them, and with `--repo` pull and push permission on that repository —
 * from the token's granted actions and the registry's answers. Pushing
 * nothing: an empty upload session is opened and cancelled.
 */
import type { Challenge } from '../auth/challenge.js';
import { type CredentialSource, type Credentials, DockerConfigCredentials, helperFor } from '../auth/credentials.js';
import { hostAliases, hostOfKey, readDockerConfig } from '../auth/docker-config.js';
import { basicHeader, fetchToken, type TokenHttp } from '../auth/token.js';
import { OcictlError } from '../errors.js';
import { type Budget, type Check, check, skip } from './check.js';
import type { Target } from './files.js';
import { type Route, credentialsBarrier, exchange, header, tlsFor } from './http.js';

export interface CredentialsFound {
  check: Check;
  creds?: Credentials;
  /** Shown name: the user name as stored (robot$ names too), or "an identity token". */
  who?: string;
}

export async function credentialsSource(server: string, dockerConfig: string, extra?: CredentialSource): Promise<CredentialsFound> {
  const name = 'credentials';
  try {
    if (extra) {
      const c = await extra.get(server);
      if (c) return { check: check(name, 'ok', `${whoOf(c)}, given by the caller`), creds: c, who: whoOf(c) };
    }
    const cfg = await readDockerConfig(dockerConfig);
    const helper = helperFor(cfg, server);
    const c = await new DockerConfigCredentials(dockerConfig).get(server);
    if (!c) {
      return { check: check(name, 'warn', `none for ${server} in ${dockerConfig}${helper ? ` or docker-credential-${helper}` : ''}: anonymous access only`, `ocictl login ${server}`) };
    }
    const aliases = hostAliases(server);
    const viaCredHelpers = Object.entries(cfg.credHelpers ?? {}).some(([k, v]) => v === helper && aliases.includes(hostOfKey(k)));
    const from = helper ? `docker-credential-${helper} (${viaCredHelpers ? 'credHelpers' : 'credsStore'} in ${dockerConfig})` : dockerConfig;
    return { check: check(name, 'ok', `${whoOf(c)}, from ${from}`), creds: c, who: whoOf(c) };
  } catch (e) {
    if (!(e instanceof OcictlError)) throw e;
    return { check: check(name, 'fail', e.message, e.hint ?? `ocictl login ${server}`) };
  }
}

function whoOf(c: Credentials): string {
  if (c.username) return `user ${c.username}${c.identityToken ? ' (identity token)' : ''}`;
  if (c.identityToken) return 'an identity token';
  if (c.registryToken) return 'a registry token';
  return 'empty credentials';
}

/** A token-service client over the doctor's exchange, refusing to carry credentials where they may not go. */
function tokenHttp(t: Target, route: Route, budget: Budget): TokenHttp {
  return async (r) => {
    const u = new URL(r.url);
    const carries = r.headers.authorization !== undefined || (r.body !== undefined && /refresh_token=|password=/.test(r.body));
    const barrier = carries ? credentialsBarrier(u, route) : undefined;
    if (barrier) throw new OcictlError('INSECURE', barrier);
    const a = await exchange(r.url, { method: r.method, headers: r.headers, ...(r.body !== undefined ? { body: r.body } : {}), tls: await tlsFor(u, t, route) }, budget);
    return { status: a.status, text: a.text };
  };
}

/** Actions the JWT grants on `repo` (undefined when the token is not a JWT with `access`). The token itself is never shown. */
function grantedActions(token: string, repo: string): string[] | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { access?: { type?: string; name?: string; actions?: string[] }[] };
    if (!Array.isArray(claims.access)) return undefined;
    return claims.access.filter((a) => a.type === 'repository' && a.name === repo).flatMap((a) => (Array.isArray(a.actions) ? a.actions : []));
  } catch {
    return undefined;
  }
}

export interface AccessInput {
  target: Target;
  route: Route;
  budget: Budget;
  challenge?: Challenge;
  creds?: Credentials;
  who?: string;
  clockBroken: boolean;
}

/** Authorization header for `scopes` (undefined: anonymous). Throws OcictlError when refused. */
async function authorize(i: AccessInput, scopes: string[], withCreds: boolean): Promise<{ header?: string; granted?: string[] | undefined; repo?: string }> {
  const c = i.challenge;
  const creds = withCreds ? i.creds : undefined;
  if (!c) return {};
  if (c.scheme === 'basic') {
    if (!creds?.username || creds.password === undefined) return {};
    return { header: basicHeader(creds.username, creds.password) };
  }
  const tok = await fetchToken(tokenHttp(i.target, i.route, i.budget), { realm: c.params.realm!, ...(c.params.service ? { service: c.params.service } : {}), scopes, ...(creds ? { credentials: creds } : {}) }, i.target.server);
  const repo = scopes[0]?.split(':').slice(1, -1).join(':');
  return { header: `Bearer ${tok.token}`, ...(repo ? { granted: grantedActions(tok.token, repo), repo } : {}) };
}

export async function credentialsCheck(i: AccessInput): Promise<Check> {
  const name = 'login';
  if (!i.creds) return skip(name, 'no credentials to check');
  if (!i.challenge) return skip(name, 'the registry asks for no authentication');
  const barrier = credentialsBarrier(new URL(i.route.base), i.route);
  if (barrier) return skip(name, barrier);
  const relogin = `ocictl login ${i.target.server}${i.creds.username ? ` -u '${i.creds.username}'` : ''}`;
  try {
    const a = await authorize(i, [], true);
    const r = await exchange(`${i.route.base}/`, { tls: i.route.tls, headers: a.header ? { authorization: a.header } : {} }, i.budget);
    if (r.status === 200) return check(name, 'ok', `${i.who} accepted${i.challenge.scheme === 'bearer' ? ` by the token service (${i.challenge.params.realm})` : ''}; GET /v2/ answered 200`);
    if (i.clockBroken) return check(name, 'fail', `the token for ${i.who} was refused by /v2/ (HTTP ${r.status}); the server's clock is off (see clock)`, 'synchronise the clocks (timedatectl set-ntp true) on both machines');
    return check(name, 'fail', `${i.who} was not accepted: GET /v2/ with them answered HTTP ${r.status}`, relogin);
  } catch (e) {
    if (e instanceof OcictlError && e.code === 'UNAUTHORIZED') return check(name, 'fail', `${i.who} was refused (401): the user name or password is wrong, or the account is disabled`, relogin);
    if (e instanceof OcictlError && e.code === 'INSECURE') return skip(name, e.message);
    const msg = e instanceof OcictlError ? e.oneLine() : (e as Error).message;
    return check(name, 'fail', `logging in as ${i.who} failed: ${msg}`, `check the token service, then: ${relogin}`);
  }
}

function registryMessage(text: string): string {
  try {
    const v = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const e = v.errors?.[0];
    if (e) {
      // Harbor doubles its messages ("m: m").
      const m = e.message ?? '';
      const half = (m.length - 2) / 2;
      const msg = Number.isInteger(half) && half > 0 && m.slice(0, half) === m.slice(half + 2) && m.slice(half, half + 2) === ': ' ? m.slice(0, half) : m;
      return `${e.code ?? ''}${msg ? `: ${msg}` : ''}`;
    }
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 160);
}

/** Pull and push permission on `repo`, after the `login` check (skipped when it failed, or when the credentials could not be used). */
export async function permissionChecks(i: AccessInput, repo: string, login: Check): Promise<Check[]> {
  const both = (why: string): Check[] => [skip('pull permission', why), skip('push permission', why)];
  if (login.status === 'fail') return both('the credentials were not accepted (see login)');
  if (login.status === 'skip' && i.creds && i.challenge) return both(`the credentials could not be used: ${login.detail}`);
  const project = repo.split('/')[0]!;
  const user = i.who ?? 'anonymous';
  const useCreds = !!i.creds && !credentialsBarrier(new URL(i.route.base), i.route);
  let auth: Awaited<ReturnType<typeof authorize>>;
  try {
    auth = await authorize(i, [`repository:${repo}:pull,push`], useCreds);
  } catch (e) {
    const msg = e instanceof OcictlError ? e.message : (e as Error).message;
    return [check('pull permission', 'fail', `no token for ${repo}: ${msg}`, `ocictl login ${i.target.server}`), skip('push permission', 'no token')];
  }
  const granted = auth.granted ? ` (the token grants ${auth.granted.length ? auth.granted.join(',') : 'nothing'} on ${repo})` : '';
  const hdr: Record<string, string> = auth.header ? { authorization: auth.header } : {};
  const out: Check[] = [];
  // pull: list tags (a repository that does not exist yet answers 404 NAME_UNKNOWN, which still means pull is allowed)
  let projectMissing = false;
  let pullOk = false;
  try {
    const r = await exchange(`${i.route.base}/${repo}/tags/list`, { tls: i.route.tls, headers: hdr }, i.budget);
    const msg = registryMessage(r.text);
    if (r.status === 200) {
      const n = (() => {
        try {
          return ((JSON.parse(r.text) as { tags?: string[] | null }).tags ?? []).length;
        } catch {
          return undefined;
        }
      })();
      pullOk = true;
      out.push(check('pull permission', 'ok', `${user} may pull ${repo}${n !== undefined ? `: ${n} tag${n === 1 ? '' : 's'}` : ''}${granted}`));
    } else if (r.status === 404) {
      pullOk = true;
      out.push(check('pull permission', 'ok', `${user} may pull ${repo}; the repository does not exist yet (${msg || 'HTTP 404'})${granted}`));
    } else if ((r.status === 401 || r.status === 403 || r.status === 404) && /project .* not found|project .*does not exist|PROJECT_NOT_FOUND/i.test(r.text)) {
      projectMissing = true;
      out.push(check('pull permission', 'fail', `project ${project} does not exist on ${i.target.server} (${msg})`, `create it (Harbor: Projects → New Project → "${project}") or fix the name in --repo`));
    } else if (r.status === 401 || r.status === 403) {
      out.push(check('pull permission', 'fail', `${user} may not pull ${repo}: HTTP ${r.status} ${msg}${granted}`, i.creds ? `make ${i.creds.username ?? 'the account'} a member of project ${project} with at least the Limited Guest role (Harbor: Projects → ${project} → Members), or use a robot account with pull permission` : `ocictl login ${i.target.server} (the repository is not public)`));
    } else {
      out.push(check('pull permission', 'fail', `GET /v2/${repo}/tags/list answered HTTP ${r.status} ${msg}`, 'check the registry\'s logs'));
    }
  } catch (e) {
    out.push(check('pull permission', 'fail', `GET /v2/${repo}/tags/list failed: ${(e as Error).message.split('\n')[0]}`, 'check the registry and the network'));
  }
  if (projectMissing) {
    out.push(skip('push permission', `project ${project} does not exist`));
    return out;
  }
  // push: open an empty upload session, then cancel it
  try {
    const r = await exchange(`${i.route.base}/${repo}/blobs/uploads/`, { method: 'POST', tls: i.route.tls, headers: hdr }, i.budget);
    const msg = registryMessage(r.text);
    if (r.status === 202) {
      const loc = header(r, 'location');
      let cancelled = 'no Location to cancel';
      if (loc) {
        const u = new URL(loc, `${i.route.base}/`);
        const same = u.host === new URL(i.route.base).host;
        if (same) {
          const d = await exchange(u.toString(), { method: 'DELETE', tls: i.route.tls, headers: hdr }, i.budget).catch(() => undefined);
          cancelled = d && d.status < 300 ? 'cancelled' : d && (d.status === 401 || d.status === 403) ? 'left for the registry to purge (cancelling needs the delete permission)' : `left for the registry to purge (DELETE answered ${d ? d.status : 'nothing'})`;
        } else cancelled = 'on another host: left for the registry to purge';
      }
      out.push(check('push permission', 'ok', `${user} may push ${repo}: an empty upload session was opened and ${cancelled}${granted}`));
    } else if (r.status === 401 || r.status === 403) {
      out.push(check('push permission', 'fail', `${user} may ${pullOk ? 'pull but not push' : 'not push'} ${repo}: HTTP ${r.status} ${msg}${granted}`, i.creds ? `give ${i.creds.username ?? 'the account'} the Developer (or Maintainer) role in project ${project} (Harbor: Projects → ${project} → Members), or use a robot account with push permission on ${project}` : `ocictl login ${i.target.server}`));
    } else {
      out.push(check('push permission', 'fail', `POST /v2/${repo}/blobs/uploads/ answered HTTP ${r.status} ${msg}`, 'check the registry\'s logs (storage full or read-only?)'));
    }
  } catch (e) {
    out.push(check('push permission', 'fail', `POST /v2/${repo}/blobs/uploads/ failed: ${(e as Error).message.split('\n')[0]}`, 'check the registry and the network'));
  }
  return out;
}
