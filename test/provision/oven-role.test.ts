// Converges the oven role into a throwaway root (no user, no systemd, no internet) with a tiny
// stand-in project, then checks what it wrote: the release layout, the environment file, the
// unit (systemd-analyze verify and its offline security score), pruning, a second run changing
// nothing, and a rollback.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ansibleDir, repoRoot, run, tail } from './tools.ts';

const converge = path.join(repoRoot, 'test/provision/converge.yml');
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

async function runRole(extra: Record<string, unknown> = {}): Promise<Recap> {
  const vars = {
    oven_root: root,
    oven_source_dir: src,
    oven_manage_user: false,
    oven_manage_service: false,
    oven_files_owner: String(os.userInfo().uid),
    oven_files_group: String(os.userInfo().gid),
    oven_callback_secret: secret,
    oven_local_archive_dir: path.join(work, 'archives'),
    // systemd-analyze verify checks that ExecStart's program exists: use this machine's node.
    oven_node_path: process.execPath,
    ...extra,
  };
  const result = await run('ansible-playbook', ['-i', 'localhost,', converge, '-e', JSON.stringify(vars)], {
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
  const recap = /localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/.exec(result.stdout);
  assert.ok(recap, `no play recap:\n${tail(result.output)}`);
  const [ok, changed, failed] = recap.slice(1).map(Number) as [number, number, number];
  return { ok, changed, failed, output: result.output };
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

  const security = await run('systemd-analyze', ['security', '--offline=true', unitPath()]);
  assert.equal(security.code, 0, tail(security.output));
  const score = Number(/Overall exposure level for oven\.service: (\d+(?:\.\d+)?)/.exec(security.stdout)?.[1]);
  assert.ok(score >= 0 && score <= 2.0, `exposure ${score} is above 2.0:\n${tail(security.stdout)}`);
});

test('a rollback points current back at an earlier release on the host', async () => {
  const result = await runRole({ oven_rollback_to: 'earlier' });
  assert.equal(result.failed, 0, tail(result.output));
  assert.ok(result.changed > 0);
  assert.equal(await readlink(path.join(root, 'opt/oven/current')), 'releases/earlier');
  await stat(path.join(releases(), firstCommit, '.oven-release'));
});
