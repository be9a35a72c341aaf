/**
 * The image commands, each also in nerdctl's `image` form: pull, push, tag,
 * images (image ls), rmi (image rm), inspect (image inspect), plus login and
 * logout. Actions import the library lazily.
 */
import { type Command, Option } from 'commander';
import { collect, commonOptions, intOption, printJson } from './context.js';


type Action = (this: Command, ...args: unknown[]) => Promise<void>;

interface TransferFlags {
  platform?: string[];
  allPlatforms?: boolean;
  quiet?: boolean;
  maxConcurrent: string;
  pin?: boolean;
}

/** pull and push share their options, progress and error handling; `run` does the transfer and returns what to print. */
function addTransfer(
  parent: Command,
  name: string,
  spec: { verb: 'pull' | 'push'; description: string; argument: string; platform: string; allPlatforms: string; quiet: string; concurrent: string; defaultConcurrent: string },
  run: (ref: import('../reference/reference.js').Reference, options: import('../api.js').CommonOptions & import('../image/pull.js').PullOptions, quiet: boolean) => Promise<string>,
): void {
  const cmd = parent
    .command(name)
    .description(spec.description)
    .argument('<image>', spec.argument)
    .option('--platform <platform>', spec.platform, collect)
    .option('--all-platforms', spec.allPlatforms)
    .option('-q, --quiet', spec.quiet)
    .option('--max-concurrent <n>', spec.concurrent, spec.defaultConcurrent);
  if (spec.verb === 'pull') cmd.option('--pin', 'containerd store: keep the image from kubelet\'s image garbage collection (io.cri-containerd.pinned=pinned)');
  cmd
    .action(async function (this: Command, image: string) {
      const o = this.opts<TransferFlags>();
      const { parseReference } = await import('../reference/reference.js');
      const { makeProgress } = await import('./progress.js');
      const ref = parseReference(image);
      const progress = makeProgress({ quiet: o.quiet === true, verb: spec.verb });
      if (!o.quiet) process.stderr.write(`${ref.toString()}: ${spec.verb === 'pull' ? 'resolving' : 'pushing'}\n`);
      try {
        const out = await run(ref, {
          ...commonOptions(this, [ref.registry]),
          ...(o.platform ? { platforms: o.platform } : {}),
          allPlatforms: o.allPlatforms === true,
          concurrency: Math.max(1, intOption(o.maxConcurrent, '--max-concurrent')),
          ...(o.pin ? { pin: true } : {}),
          onProgress: progress.listener,
        }, o.quiet === true);
        progress.done();
        process.stdout.write(out);
      } finally {
        progress.done();
      }
    } as Action);
}

function addPull(parent: Command, name: string): void {
  addTransfer(parent, name, {
    verb: 'pull',
    description: 'pull an image from a registry into the store (containerd\'s, unpacked, or the local one: see ocictl info)',
    argument: 'image reference, e.g. 127.0.0.1:5000/lidabai/nginx:1.23.1',
    platform: 'platform to pull (os/arch[/variant]), repeatable; default: this host\'s',
    allPlatforms: 'pull every platform of a multi-platform image',
    quiet: 'print only the image name',
    concurrent: 'blobs downloaded at once',
    defaultConcurrent: '4',
  }, async (ref, options, quiet) => {
    const { pullImage } = await import('../api.js');
    const r = await pullImage(ref, options);
    return quiet ? `${r.name}\n` : `Digest: ${r.digest}\nPulled ${r.name}\n`;
  });
}

function addPush(parent: Command, name: string): void {
  addTransfer(parent, name, {
    verb: 'push',
    description: 'push an image from the store to a registry',
    argument: 'image reference in the store, pushed to its registry',
    platform: 'push only this platform of a multi-platform image (the digest changes)',
    allPlatforms: 'push every platform (the index digest is kept)',
    quiet: 'print only the digest',
    concurrent: 'blobs uploaded at once',
    defaultConcurrent: '6',
  }, async (ref, options, quiet) => {
    const { pushImage } = await import('../api.js');
    const r = await pushImage(ref, options);
    return quiet ? `${r.digest}\n` : `${ref.tag ?? ref.digest ?? 'latest'}: digest: ${r.digest} size: ${r.size}\n`;
  });
}

function addTag(parent: Command, name: string): void {
  parent
    .command(name)
    .description('create a name TARGET that refers to SOURCE in the local store')
    .argument('<source>', 'image name or ID')
    .argument('<target>', 'new name')
    .action(async function (this: Command, source: string, target: string) {
      const { tagImageLocal } = await import('../api-local.js');
      await tagImageLocal(source, target, commonOptions(this));
    } as Action);
}

function addImages(parent: Command, name: string, alias?: string): void {
  const c = parent
    .command(name)
    .description('list images in the local store')
    .argument('[repository]', 'only images of this repository (name[:tag])')
    .option('-q, --quiet', 'print only image IDs')
    .option('--digests', 'show digests')
    .option('--no-trunc', 'do not truncate IDs')
    .option('-a, --all', 'show all images (accepted for compatibility)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'wide']).default('table'))
    .action(async function (this: Command, repository?: string) {
      const o = this.opts<{ quiet?: boolean; digests?: boolean; trunc: boolean; format: string }>();
      const { listLocalImages } = await import('../api-local.js');
      const { formatBytes, table, timeAgo } = await import('./format.js');
      let list = await listLocalImages(commonOptions(this));
      if (repository) {
        const { parseReference } = await import('../reference/reference.js');
        const r = parseReference(repository, { defaultTag: null });
        list = list.filter((i) => i.repository === r.name && (!r.tag || i.tag === r.tag));
      }
      const id = (d: string): string => (o.trunc ? d.slice(7, 19) : d);
      if (o.quiet) {
        for (const i of list) process.stdout.write(`${id(i.digest)}\n`);
        return;
      }
      if (o.format === 'json') {
        for (const i of list) {
          process.stdout.write(`${JSON.stringify({ Repository: i.repository, Tag: i.tag, ID: id(i.digest), Digest: i.digest, CreatedAt: i.created ?? '', CreatedSince: timeAgo(i.created), Platform: i.platforms.join(','), Size: formatBytes(i.size), BlobSize: i.size, Name: i.name })}\n`);
        }
        return;
      }
      const header = ['REPOSITORY', 'TAG', ...(o.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'PLATFORM', 'SIZE'];
      const rows = list.map((i) => [i.repository, i.tag, ...(o.digests ? [i.digest] : []), id(i.digest), timeAgo(i.created), i.platforms.join(','), formatBytes(i.size)]);
      process.stdout.write(table(header, rows));
    } as Action);
  if (alias) c.alias(alias);
}

function addRmi(parent: Command, name: string, alias?: string): void {
  const c = parent
    .command(name)
    .description('remove images from the local store (and the blobs nothing else uses)')
    .argument('<images...>', 'image names or IDs')
    .option('-f, --force', 'accepted for compatibility')
    .action(async function (this: Command, images: string[]) {
      const { removeLocalImages } = await import('../api-local.js');
      const r = await removeLocalImages(images, commonOptions(this));
      for (const n of r.removed) process.stdout.write(`Untagged: ${n}\n`);
      if (r.blobsRemoved) {
        const { formatBytes } = await import('./format.js');
        process.stdout.write(`Deleted: ${r.blobsRemoved} blobs, ${formatBytes(r.bytesFreed)}\n`);
      }
    } as Action);
  if (alias) c.alias(alias);
}

function addInspect(parent: Command, name: string): void {
  parent
    .command(name)
    .description('show image details as JSON (as nerdctl image inspect)')
    .argument('<images...>', 'image names or IDs')
    .option('--platform <platform>', 'platform of a multi-platform image')
    .option('--remote', 'inspect images in their registry (config and layers per platform) without pulling')
    .addOption(new Option('--format <format>', 'output format').choices(['json']).default('json'))
    .action(async function (this: Command, images: string[]) {
      const o = this.opts<{ platform?: string; remote?: boolean }>();
      if (o.remote) return (await import('./remote-commands.js')).inspectRemoteCommand(this, images, o.platform);
      const { inspectLocalImage } = await import('../api-local.js');
      const out = [];
      for (const i of images) out.push(await inspectLocalImage(i, { ...commonOptions(this), ...(o.platform ? { platform: o.platform } : {}) }));
      printJson(out);
    } as Action);
}

function addLogin(program: Command): void {
  program
    .command('login')
    .description('log in to a registry (saved in $DOCKER_CONFIG/config.json or a credential helper)')
    .argument('[server]', 'registry host[:port] (default Docker Hub)')
    .option('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .action(async function (this: Command, server?: string) {
      const o = this.opts<{ username?: string; password?: string; passwordStdin?: boolean }>();
      const { OcictlError } = await import('../errors.js');
      let username = o.username;
      let password = o.password;
      if (o.passwordStdin) {
        if (password !== undefined) throw new OcictlError('INVALID_ARGUMENT', '--password and --password-stdin are mutually exclusive', { hint: 'use one of them' });
        if (!username) throw new OcictlError('INVALID_ARGUMENT', 'must provide --username with --password-stdin', { hint: 'pass -u USER' });
        const { readStdin } = await import('./prompt.js');
        password = (await readStdin()).trim();
      } else if (password !== undefined) {
        process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      }
      if (!username || password === undefined) {
        if (!process.stdin.isTTY) {
          throw new OcictlError('INVALID_ARGUMENT', 'no credentials given and no terminal to ask for them', { hint: 'pass -u USER with -p PASS or --password-stdin' });
        }
        const { promptLine, promptSecret } = await import('./prompt.js');
        if (!username) username = (await promptLine('Username: ')).trim();
        if (password === undefined) password = await promptSecret('Password: ');
      }
      if (!username || !password) throw new OcictlError('INVALID_ARGUMENT', 'user name and password must not be empty', { hint: 'pass -u USER and -p PASS' });
      const { login } = await import('../api.js');
      const { normaliseServer } = await import('../reference/reference.js');
      const host = normaliseServer(server);
      const r = await login(server, { username, password }, commonOptions(this, [host]));
      if (r.storedIn === 'config.json') {
        process.stderr.write(`WARNING: Your password will be stored unencrypted in ${r.configFile}.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/engine/reference/commandline/login/#credentials-store\n\n`);
      }
      process.stdout.write('Login Succeeded\n');
    } as Action);
}

function addLogout(program: Command): void {
  program
    .command('logout')
    .description('remove saved credentials of a registry')
    .argument('[server]', 'registry host[:port] (default Docker Hub)')
    .action(async function (this: Command, server?: string) {
      const { logout } = await import('../api.js');
      const r = await logout(server);
      if (r.removed) process.stdout.write(`Removing login credentials for ${r.server}\n`);
      else process.stdout.write(`Not logged in to ${r.server}\n`);
    } as Action);
}

function addInfo(program: Command): void {
  program
    .command('info')
    .description('which image store commands use (containerd or local), where, and why')
    .option('--format <format>', 'json for machine-readable output')
    .action(async function (this: Command) {
      const o = this.opts<{ format?: string }>();
      const { storeInfo } = await import('../api-local.js');
      const i = await storeInfo(commonOptions(this));
      if (o.format === 'json') {
        printJson(i);
        return;
      }
      const rows: [string, string | undefined][] = [
        ['Store', i.store],
        ['Why', i.why],
        ['Namespace', i.namespace],
        ['Data root', i.dataRoot],
        ['Address', i.address],
        ['Snapshotter', i.snapshotter],
        ['containerd', i.containerdVersion],
      ];
      for (const [k, v] of rows) if (v !== undefined) process.stdout.write(`${`${k}:`.padEnd(13)}${v}\n`);
    } as Action);
}

export function registerImageCommands(program: Command): void {
  addInfo(program);
  addLogin(program);
  addLogout(program);
  addPull(program, 'pull');
  addPush(program, 'push');
  addTag(program, 'tag');
  addImages(program, 'images');
  addRmi(program, 'rmi');
  addInspect(program, 'inspect');
  const image = program.command('image').description('manage images (nerdctl form: image pull|push|tag|ls|rm|inspect)');
  addPull(image, 'pull');
  addPush(image, 'push');
  addTag(image, 'tag');
  addImages(image, 'ls', 'list');
  addRmi(image, 'rm', 'remove');
  addInspect(image, 'inspect');
}
