// Converges the oven role into a throwaway root (no user, no systemd, no internet) with a tiny
// stand-in project, then checks what it wrote: the release layout, the environment file, the
// unit (systemd-analyze verify and its offline security score), pruning, a second run changing
// nothing, and a rollback; then a worker (OVEN_ROLE=worker, Redis), the checks that refuse a
// worker without Redis or Redis without the Space, and two hosts deployed one at a time.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ansibleDir, repoRoot, run, tail } from './tools.ts';

const convergePlaybook = path.join(repoRoot, 'test/provision/converge.yml');
// Quotes, a dollar and a backslash: the environment file must carry them as they are.
const secret = 'a-"quoted"-$HOME-\\-secret-0123456789';

let work: string;
let src: string;
let root: string;
const unitPath = () => path.join(root, 'etc/systemd/system/oven.service');
const releases = () => path.join(root, 'opt/oven/releases');

function git(...args: string[]): string {
  return execFileSync('git', ['-C', src, '-c', 'user.name=Oven Test', '-c', 'user.email=test@oven.invalid', ...args], {
    encoding: 'utf8',
  }).trim();
}

/** A project shaped like the oven: `npm run build` writes dist/service/main.js; no dependencies. */
async function makeSource(): Promise<void> {
  await mkdir(src);
  const build = "require('fs').mkdirSync('dist/service',{recursive:true});require('fs').writeFileSync('dist/service/main.js','// '+require('./package.json').version+'\\n')";
  await writeFile(path.join(src, 'package.json'), JSON.stringify({ name: 'stand-in', version: '1.0.0', private: true, scripts: { build: `node -e "${build}"` } }));
  await writeFile(
    path.join(src, 'package-lock.json'),
    JSON.stringify({ name: 'stand-in', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'stand-in', version: '1.0.0' } } }),
  );
  await writeFile(path.join(src, '.gitignore'), 'dist/\n');
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'first');
}

interface Recap {
  ok: number;
  changed: number;
  failed: number;
  output: string;
}

/** What every converge passes: the throwaway layout, this machine's user, no systemd. */
function commonVars(): Record<string, unknown> {
  return {
    oven_source_dir: src,
    oven_manage_user: false,
    oven_manage_service: false,
    oven_files_owner: String(os.userInfo().uid),
    oven_files_group: String(os.userInfo().gid),
    oven_callback_secret: secret,
    oven_local_archive_dir: path.join(work, 'archives'),
    // systemd-analyze verify checks that ExecStart's program exists: use this machine's node.
    oven_node_path: process.execPath,
  };
}

/** Runs converge.yml over `inventory` and hands back each host's recap. */
async function converge(
  vars: Record<string, unknown>,
  inventory = 'localhost,',
  args: string[] = [],
): Promise<{ hosts: Map<string, Recap>; output: string }> {
  const result = await run('ansible-playbook', ['-i', inventory, convergePlaybook, '-e', JSON.stringify(vars), ...args], {
    env: {
      ANSIBLE_ROLES_PATH: path.join(ansibleDir, 'roles'),
      ANSIBLE_LOCAL_TEMP: path.join(work, 'ansible-tmp'),
      ANSIBLE_REMOTE_TMP: path.join(work, 'ansible-tmp'),
      ANSIBLE_PYTHON_INTERPRETER: 'auto_silent',
      npm_config_cache: path.join(work, 'npm-cache'),
      npm_config_offline: 'true',
      npm_config_update_notifier: 'false',
    },
  });
  const hosts = new Map<string, Recap>();
  for (const line of result.stdout.matchAll(/^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/gm)) {
    const [ok, changed, failed] = line.slice(2).map(Number) as [number, number, number];
    hosts.set(line[1]!, { ok, changed, failed, output: result.output });
  }
  assert.ok(hosts.size > 0, `no play recap:\n${tail(result.output)}`);
  return { hosts, output: result.output };
}

/** Converges the one host `localhost` into `into` (the main throwaway root unless told). */
async function runRole(extra: Record<string, unknown> = {}, into = root, args: string[] = []): Promise<Recap> {
  const { hosts, output } = await converge({ ...commonVars(), oven_root: into, ...extra }, 'localhost,', args);
  const recap = hosts.get('localhost');
  assert.ok(recap, `no recap for localhost:\n${tail(output)}`);
  return recap;
}

let firstCommit: string;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'oven-converge-'));
  src = path.join(work, 'src');
  root = path.join(work, 'root');
  await mkdir(root);
  await makeSource();
  firstCommit = git('rev-parse', '--short=12', 'HEAD');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The unit's overall exposure in `systemd-analyze security --offline=true` (0 is best). */
async function exposure(unitFile: string): Promise<number> {
  const security = await run('systemd-analyze', ['security', '--offline=true', unitFile]);
  assert.equal(security.code, 0, tail(security.output));
  const score = Number(/Overall exposure level for oven\.service: (\d+(?:\.\d+)?)/.exec(security.stdout)?.[1]);
  assert.ok(Number.isFinite(score), `no exposure level:\n${tail(security.stdout)}`);
  return score;
}

/** The environment file under `into`, as lines. */
async function envLines(into: string): Promise<string[]> {
  return (await readFile(path.join(into, 'etc/oven/oven.env'), 'utf8')).split('\n');
}

/** A complete release left by an earlier deploy, last touched on `date`. */
async function oldRelease(name: string, date: string): Promise<void> {
  const dir = path.join(releases(), name);
  await mkdir(path.join(dir, 'dist/service'), { recursive: true });
  await writeFile(path.join(dir, 'dist/service/main.js'), `// ${name}\n`);
  await writeFile(path.join(dir, '.oven-release'), `${name}\n`);
  await utimes(dir, new Date(date), new Date(date));
}

test('the first run ships the checked-out commit, points current at it and keeps the newest releases', async () => {
  await oldRelease('stale', '2001-01-01');
  await oldRelease('earlier', '2011-01-01');
  const first = await runRole({ oven_keep_releases: 2 });
  assert.equal(first.failed, 0, tail(first.output));
  assert.ok(first.changed > 0);
  assert.equal(await readlink(path.join(root, 'opt/oven/current')), `releases/${firstCommit}`);
  const release = path.join(releases(), firstCommit);
  assert.equal(await readFile(path.join(release, 'dist/service/main.js'), 'utf8'), '// 1.0.0\n');
  assert.equal(await readFile(path.join(release, '.oven-release'), 'utf8'), `${firstCommit}\n`);
  await stat(path.join(release, 'package-lock.json'));
  await stat(path.join(releases(), 'earlier', '.oven-release'));
  await assert.rejects(stat(path.join(releases(), 'stale')), { code: 'ENOENT' }, 'the oldest release beyond the kept two is removed');
});

test('the environment file is for root only and carries the settings exactly', async () => {
  assert.equal((await stat(path.join(root, 'etc/oven'))).mode & 0o777, 0o700);
  const envFile = path.join(root, 'etc/oven/oven.env');
  assert.equal((await stat(envFile)).mode & 0o777, 0o600);
  const lines = (await readFile(envFile, 'utf8')).split('\n');
  assert.ok(lines.includes('CALLBACK_SECRET="a-\\"quoted\\"-\\$HOME-\\\\-secret-0123456789"'), lines.join('\n'));
  for (const line of ['NODE_ENV="production"', 'HOST="127.0.0.1"', 'PORT="3000"', 'OVEN_DATA_DIR="/var/lib/oven"', 'TEMP_DIR="/var/cache/oven"', 'OVEN_DRAIN_SECONDS="90"']) {
    assert.ok(lines.includes(line), `${line} in\n${lines.join('\n')}`);
  }
  assert.ok(!lines.some((l) => l.startsWith('AT_BLOBS_SPACES_KEY=')), 'unset settings are left out');
  // Single-machine mode: neither the role nor a Redis URL, so the service's defaults apply.
  assert.ok(!lines.some((l) => l.startsWith('OVEN_ROLE=') || l.startsWith('OVEN_REDIS_URL=')), lines.join('\n'));
});

test('a second run changes nothing', async () => {
  const again = await runRole({ oven_keep_releases: 2 });
  assert.equal(again.failed, 0, tail(again.output));
  assert.equal(again.changed, 0, tail(again.output));
});

test('the unit passes systemd-analyze verify without a word', async () => {
  const verify = await run('systemd-analyze', ['verify', unitPath()]);
  assert.equal(verify.code, 0, tail(verify.output));
  assert.equal(verify.output.trim(), '', 'systemd-analyze verify printed warnings');
});

test('the unit lets a deploy drain, and scores at most 2.0 in systemd-analyze security', async () => {
  const unit = await readFile(unitPath(), 'utf8');
  const value = (key: string) => unit.match(new RegExp(`^${key}=(.*)$`, 'm'))?.[1];
  assert.equal(value('User'), 'oven');
  assert.equal(value('StateDirectory'), 'oven');
  assert.equal(value('EnvironmentFile'), '/etc/oven/oven.env');
  assert.equal(value('ExecStart'), `${process.execPath} /opt/oven/current/dist/service/main.js`);
  assert.equal(value('Restart'), 'on-failure');
  assert.equal(value('KillMode'), 'mixed');
  assert.ok(Number(value('TimeoutStopSec')) > 90, 'TimeoutStopSec above OVEN_DRAIN_SECONDS');
  assert.equal(value('MemoryDenyWriteExecute'), undefined, "V8's JIT needs writable, executable memory");

  const score = await exposure(unitPath());
  assert.ok(score >= 0 && score <= 2.0, `exposure ${score} is above 2.0`);
});

test('a rollback points current back at an earlier release on the host', async () => {
  const result = await runRole({ oven_rollback_to: 'earlier' });
  assert.equal(result.failed, 0, tail(result.output));
  assert.ok(result.changed > 0);
  assert.equal(await readlink(path.join(root, 'opt/oven/current')), 'releases/earlier');
  await stat(path.join(releases(), firstCommit, '.oven-release'));
});

// Redis mode: a DigitalOcean Managed Valkey URI (with its password) and the Space, which every
// machine needs once bakes and downloads happen on different droplets.
const redisUrl = 'rediss://default:valkey-password-0123@private-oven-valkey.db.ondigitalocean.com:25061';
const space = {
  oven_at_blobs_spaces_key: 'spaces-key',
  oven_at_blobs_spaces_secret: 'spaces-secret',
  oven_at_blobs_spaces_endpoint: 'https://sfo3.digitaloceanspaces.com',
  oven_at_blobs_spaces_bucket: 'at-blobs-test',
};

test('a worker gets OVEN_ROLE=worker and the Redis URL, the same unit, and a second run changes nothing', async () => {
  const workerRoot = path.join(work, 'worker');
  await mkdir(workerRoot);
  const worker = { oven_role: 'worker', oven_redis_url: redisUrl, ...space };
  const first = await runRole(worker, workerRoot);
  assert.equal(first.failed, 0, tail(first.output));
  assert.ok(!first.output.includes('valkey-password-0123'), 'the Redis password is never printed');

  const lines = await envLines(workerRoot);
  for (const line of ['OVEN_ROLE="worker"', `OVEN_REDIS_URL="${redisUrl}"`, 'AT_BLOBS_SPACES_BUCKET="at-blobs-test"', 'HOST="127.0.0.1"', 'PORT="3000"']) {
    assert.ok(lines.includes(line), `${line} in\n${lines.join('\n')}`);
  }
  assert.equal((await stat(path.join(workerRoot, 'etc/oven/oven.env'))).mode & 0o777, 0o600);

  const again = await runRole(worker, workerRoot);
  assert.equal(again.failed, 0, tail(again.output));
  assert.equal(again.changed, 0, tail(again.output));

  // The role changes what the process does, not how it is sandboxed or drained.
  const workerUnit = path.join(workerRoot, 'etc/systemd/system/oven.service');
  assert.equal(await readFile(workerUnit, 'utf8'), await readFile(unitPath(), 'utf8'));
  const verify = await run('systemd-analyze', ['verify', workerUnit]);
  assert.equal(verify.code, 0, tail(verify.output));
  assert.equal(verify.output.trim(), '', 'systemd-analyze verify printed warnings');
  const score = await exposure(workerUnit);
  assert.ok(score <= (await exposure(unitPath())) && score <= 2.0, `the worker's exposure ${score} is worse than the API's`);
});

test('an API-only host in Redis mode gets OVEN_ROLE=api', async () => {
  const apiRoot = path.join(work, 'api');
  await mkdir(apiRoot);
  // Settings only (--tags config): the release is the same for every role.
  const result = await runRole({ oven_role: 'api', oven_redis_url: redisUrl, ...space }, apiRoot, ['--tags', 'config']);
  assert.equal(result.failed, 0, tail(result.output));
  const lines = await envLines(apiRoot);
  assert.ok(lines.includes('OVEN_ROLE="api"') && lines.includes(`OVEN_REDIS_URL="${redisUrl}"`), lines.join('\n'));
});

test('the checks refuse a worker without Redis, Redis without the Space, and a malformed Redis URL', async () => {
  const refused = path.join(work, 'refused');
  // The checks come first, so --tags config reaches them without shipping anything.
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a worker without Redis', { oven_role: 'worker', ...space }, /has oven_role worker, which needs OVEN_REDIS_URL: set vault_oven_redis_url/],
    ['an api host without Redis', { oven_role: 'api', ...space }, /has oven_role api, which needs OVEN_REDIS_URL/],
    ['Redis without the Space', { oven_role: 'worker', oven_redis_url: redisUrl }, /With OVEN_REDIS_URL set, every oven stores MP4s and thumbnails in the Space/],
    ['a Redis URL that is not one', { oven_role: 'worker', oven_redis_url: 'https://default:valkey-password-0123@example.test', ...space }, /must start with rediss:\/\//],
    ['an unknown role', { oven_role: 'baker' }, /oven_role is 'baker' on localhost: it must be all, api or worker/],
  ];
  for (const [what, vars, message] of cases) {
    const result = await runRole(vars, refused, ['--tags', 'config']);
    assert.equal(result.failed, 1, `${what} was not refused:\n${tail(result.output)}`);
    assert.match(result.output, message, what);
    assert.ok(!result.output.includes('valkey-password-0123'), `${what}: the Redis password is never printed`);
  }
  await assert.rejects(stat(refused), { code: 'ENOENT' }, 'a refused host gets nothing written');
});

test('two hosts go one at a time: the release is built once and both run the same one', async () => {
  const inventory = path.join(work, 'two-workers.ini');
  const hostRoot = (name: string) => path.join(work, name);
  await writeFile(inventory, ['[oven_workers]', ...['w1', 'w2'].map((h) => `${h} ansible_connection=local oven_root=${hostRoot(h)}`), ''].join('\n'));
  const { hosts, output } = await converge({ ...commonVars(), oven_role: 'worker', oven_redis_url: redisUrl, ...space }, inventory);
  assert.deepEqual([...hosts.keys()].sort(), ["w1", "w2"], tail(output, 8000));
  for (const recap of hosts.values()) assert.equal(recap.failed, 0, tail(output));

  // serial: 1, so each host is a batch of its own, w1 entirely before w2.
  assert.ok(output.indexOf('[w1]') < output.indexOf('[w2]'));
  assert.ok(output.lastIndexOf('[w1]') < output.indexOf('[w2]'), `w1 and w2 interleave:\n${tail(output)}`);
  const builds = [...output.matchAll(/TASK \[oven : Build the service\.\][^\n]*\n(\w+): \[(\w+)/g)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual(builds, ['changed w1', 'skipping w2'], 'built for the first batch only');
  for (const name of ['w1', 'w2']) {
    assert.equal(await readlink(path.join(hostRoot(name), 'opt/oven/current')), `releases/${firstCommit}`);
    assert.equal(await readFile(path.join(hostRoot(name), 'opt/oven/releases', firstCommit, 'dist/service/main.js'), 'utf8'), '// 1.0.0\n');
  }
});
