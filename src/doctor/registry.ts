/**
 * The registry's own answers to an anonymous `GET /v2/`: its clock (the
 * `Date` header against ours), the challenge (Basic or Bearer), and whether
 * the token realm it names answers.
 */
import { type Challenge, parseChallenges } from '../auth/challenge.js';
import { type Budget, type Check, check, skip } from './check.js';
import type { Target } from './files.js';
import { type Answer, type Route, exchange, header, tlsFor } from './http.js';

export interface V2Outcome {
  checks: Check[];
  /** The anonymous answer, when there was one. */
  answer?: Answer;
  challenge?: Challenge;
  /** Clock off by more than 5 minutes. */
  clockBroken: boolean;
}

function humanSkew(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const m = Math.floor(s / 60);
  const parts = m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
  return `${parts} ${ms > 0 ? 'ahead of' : 'behind'} this machine`;
}

export async function v2Checks(t: Target, route: Route, budget: Budget): Promise<V2Outcome> {
  let answer: Answer;
  try {
    answer = await exchange(`${route.base}/`, { tls: route.tls }, budget);
  } catch (e) {
    const why = (e as Error).name === 'AbortError' || /abort|timeout/i.test((e as Error).message) ? `no answer to GET ${route.base}/ before the time ran out` : `GET ${route.base}/ failed: ${(e as Error).message.split('\n')[0]}`;
    return {
      checks: [check('v2 endpoint', 'fail', why, `check the registry process and any proxy in front of it (curl -v ${route.base}/)`), skip('clock', 'no answer from /v2/'), skip('v2 challenge', 'no answer from /v2/'), skip('token realm', 'no answer from /v2/')],
      clockBroken: false,
    };
  }
  const checks: Check[] = [];
  // clock
  const date = header(answer, 'date');
  let clockBroken = false;
  if (!date || Number.isNaN(Date.parse(date))) checks.push(check('clock', 'warn', 'the server sent no Date header: its clock cannot be compared', 'check the clocks of both machines (timedatectl)'));
  else {
    const skew = Date.parse(date) - answer.at;
    const abs = Math.abs(skew);
    const fix = `synchronise the clocks: run chrony or systemd-timesyncd on this machine and on the registry's (timedatectl set-ntp true); tokens are stamped with the registry's time`;
    if (abs > 5 * 60_000) {
      clockBroken = true;
      checks.push(check('clock', 'fail', `the server's clock (Date: ${date}) is ${humanSkew(skew)}: tokens look not yet valid or expired`, fix));
    } else if (abs > 60_000) checks.push(check('clock', 'warn', `the server's clock (Date: ${date}) is ${humanSkew(skew)}`, fix));
    else checks.push(check('clock', 'ok', `the server's clock is within ${Math.max(1, Math.round(abs / 1000))} s of this machine's`));
  }
  // challenge
  const out: V2Outcome = { checks, answer, clockBroken };
  if (answer.status === 200) {
    checks.push(check('v2 challenge', 'ok', 'GET /v2/ answered 200 without credentials: no authentication asked'));
    checks.push(skip('token realm', 'the registry asks for no authentication'));
    return out;
  }
  if (answer.status !== 401) {
    checks.push(check('v2 challenge', 'fail', `GET ${route.base}/ answered HTTP ${answer.status}, not 401 or 200: not a registry API at this address`, `use the registry's address (for Harbor the same host and port as its web UI; nothing else listening there), and check any proxy in front of it`));
    checks.push(skip('token realm', 'no challenge'));
    return out;
  }
  const challenges = parseChallenges(answer.headers['www-authenticate']);
  const bearer = challenges.find((c) => c.scheme === 'bearer');
  const basic = challenges.find((c) => c.scheme === 'basic');
  if (bearer?.params.realm) {
    out.challenge = bearer;
    checks.push(check('v2 challenge', 'ok', `Bearer realm="${bearer.params.realm}"${bearer.params.service ? ` service="${bearer.params.service}"` : ''}`));
    checks.push(await realmCheck(t, route, budget, bearer));
    return out;
  }
  if (basic) {
    out.challenge = basic;
    checks.push(check('v2 challenge', 'ok', `Basic realm="${basic.params.realm ?? ''}"`));
    checks.push(skip('token realm', 'Basic authentication has no token service'));
    return out;
  }
  checks.push(check('v2 challenge', 'fail', `GET /v2/ answered 401 without a usable WWW-Authenticate header (${header(answer, 'www-authenticate') ?? 'none'})`, 'configure the registry\'s auth (htpasswd or token) so that it sends a Basic or Bearer challenge'));
  checks.push(skip('token realm', 'no usable challenge'));
  return out;
}

async function realmCheck(t: Target, route: Route, budget: Budget, c: Challenge): Promise<Check> {
  const name = 'token realm';
  let realm: URL;
  try {
    realm = new URL(c.params.realm!);
  } catch {
    return check(name, 'fail', `the realm "${c.params.realm}" is not a URL`, 'fix auth.token.realm in the registry configuration (Harbor: external_url in harbor.yml)');
  }
  if (realm.protocol !== 'https:' && realm.protocol !== 'http:') return check(name, 'fail', `the realm ${realm.href} is not http(s)`, 'fix auth.token.realm in the registry configuration');
  const url = new URL(realm.href);
  if (c.params.service) url.searchParams.set('service', c.params.service);
  const fixUnreachable = `the registry names a token service this machine cannot reach: make auth.token.realm the address clients use (Harbor: external_url in harbor.yml, then ./prepare and restart)`;
  try {
    const a = await exchange(url.toString(), { tls: await tlsFor(url, t, route) }, budget);
    const plain = realm.protocol === 'http:' && !route.plainHttp;
    if (plain) return check(name, 'warn', `${realm.href} answered HTTP ${a.status}, over plain HTTP: credentials are not sent to it`, 'serve the token service over HTTPS');
    return check(name, 'ok', `${realm.href} answered HTTP ${a.status}`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ECONNREFUSED' ? 'connection refused' : (e as Error).name === 'AbortError' ? 'no answer in time' : (e as Error).message.split('\n')[0];
    return check(name, 'fail', `the token service ${realm.href} is unreachable: ${why}`, fixUnreachable);
  }
}
