/**
 * `ocictl pull-secret SERVER`: a Kubernetes Secret of type
 * `kubernetes.io/dockerconfigjson` holding only SERVER's credentials, taken
 * from where `login` put them (config.json or its credential helper). Its
 * `.dockerconfigjson` is byte for byte what `kubectl create secret
 * docker-registry NAME --docker-server=SERVER --docker-username=U
 * --docker-password=P` makes. Nothing is written to disk.
 */
import { type CredentialSource, DockerConfigCredentials } from '../auth/credentials.js';
import { configKey, dockerConfigPath, encodeAuth } from '../auth/docker-config.js';
import { OcictlError } from '../errors.js';
import { normaliseServer } from '../reference/reference.js';

export interface PullSecretOptions {
  /** metadata.name (default: SERVER as a DNS name, plus `-pull`). */
  name?: string;
  /** metadata.namespace (omitted by default, as kubectl does). */
  namespace?: string;
  /** Docker config.json (default $DOCKER_CONFIG/config.json). */
  dockerConfig?: string;
  /** Credentials tried before config.json. */
  credentials?: CredentialSource;
}

export interface PullSecret {
  kind: 'Secret';
  apiVersion: 'v1';
  metadata: { name: string; namespace?: string; creationTimestamp: null };
  data: { '.dockerconfigjson': string };
  type: 'kubernetes.io/dockerconfigjson';
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** JSON as Go's encoding/json writes it (kubectl): `<`, `>`, `&`, U+2028 and U+2029 escaped. */
export function goJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function defaultSecretName(server: string): string {
  const s = server.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return `${s.slice(0, 240) || 'registry'}-pull`;
}

/** The Secret for SERVER's stored login. Throws NO_CREDENTIALS when there is none. */
export async function pullSecret(serverArg: string, o: PullSecretOptions = {}): Promise<PullSecret> {
  const server = normaliseServer(serverArg);
  const name = o.name ?? defaultSecretName(server);
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw new OcictlError('INVALID_ARGUMENT', `--name "${name}" is not a valid Secret name`, { hint: 'lower-case letters, digits, "-" and ".", starting and ending with a letter or digit' });
  }
  if (o.namespace !== undefined && (o.namespace.length > 63 || !DNS1123_LABEL.test(o.namespace))) {
    throw new OcictlError('INVALID_ARGUMENT', `--namespace "${o.namespace}" is not a valid namespace`, { hint: 'lower-case letters, digits and "-", at most 63 characters' });
  }
  const file = o.dockerConfig ?? dockerConfigPath();
  const c = (await o.credentials?.get(server)) ?? (await new DockerConfigCredentials(file).get(server));
  if (!c || (!c.password && !c.identityToken)) {
    if (c?.registryToken) {
      throw new OcictlError('UNSUPPORTED', `the credentials for ${server} are a registry token, which kubelet cannot use`, { hint: `log in with a user and password (or a robot account): ocictl login ${server}` });
    }
    throw new OcictlError('NO_CREDENTIALS', `no credentials for ${server} in ${file} or its credential helper`, { hint: `ocictl login ${server}` });
  }
  // An identity token (OIDC CLI secret, refresh token) stands in for the password, as docker sends it to a token service.
  const username = c.username || '<token>';
  const password = c.identityToken && !c.password ? c.identityToken : (c.password ?? '');
  const entry = { username, password, auth: encodeAuth(username, password) };
  const dockerconfigjson = goJson({ auths: { [configKey(server)]: entry } });
  return {
    kind: 'Secret',
    apiVersion: 'v1',
    metadata: { name, ...(o.namespace !== undefined ? { namespace: o.namespace } : {}), creationTimestamp: null },
    data: { '.dockerconfigjson': Buffer.from(dockerconfigjson, 'utf8').toString('base64') },
    type: 'kubernetes.io/dockerconfigjson',
  };
}

/** As `kubectl -o json` prints it (4-space indent). */
export function secretJson(s: PullSecret): string {
  return `${JSON.stringify(s, null, 4)}\n`;
}

/** As `kubectl -o yaml` prints it (keys sorted). Every value here is a DNS name or base64: no quoting needed. */
export function secretYaml(s: PullSecret): string {
  return [
    'apiVersion: v1',
    'data:',
    `  .dockerconfigjson: ${s.data['.dockerconfigjson']}`,
    'kind: Secret',
    'metadata:',
    '  creationTimestamp: null',
    `  name: ${s.metadata.name}`,
    ...(s.metadata.namespace !== undefined ? [`  namespace: ${s.metadata.namespace}`] : []),
    'type: kubernetes.io/dockerconfigjson',
    '',
  ].join('\n');
}
