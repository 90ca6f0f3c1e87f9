// scripts/deploy.sh, with stand-ins for pulumi and ansible-playbook first on PATH: each records
// its arguments (and ansible-playbook the inventory it was given), so the tests check the order
// (pulumi up, then the inventory, then the playbook), that a failed step stops the rest, and the
// options. The script runs from a copy in a throwaway tree, so the real ansible/inventory.ini is
// never touched.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { repoRoot, run, tail } from './tools.ts';

const script = path.join(repoRoot, 'scripts/deploy.sh');
const inventoryText = '[oven]\noven.example.test ansible_host=203.0.113.10 ansible_user=root oven_domain=oven.example.test\n[oven_workers]\noven-worker-1 ansible_host=10.0.0.5 ansible_user=root\n';

let work: string;
let tree: string;
let stubs: string;
let log: string;
const inventory = () => path.join(tree, 'ansible/inventory.ini');

// Each stand-in appends one line to $STUB_LOG: its name, then its arguments, tab-separated.
const pulumiStub = `#!/usr/bin/env bash
set -eu
printf '%s' pulumi >>"$STUB_LOG"; printf '\\t%s' "$@" >>"$STUB_LOG"; printf '\\n' >>"$STUB_LOG"
for arg in "$@"; do
  case "$arg" in
    up) exit "\${STUB_UP_EXIT:-0}" ;;
    output) printf '%s' "$STUB_INVENTORY"; exit "\${STUB_OUTPUT_EXIT:-0}" ;;
  esac
done
`;
const playbookStub = `#!/usr/bin/env bash
set -eu
printf '%s' ansible-playbook >>"$STUB_LOG"; printf '\\t%s' "$@" >>"$STUB_LOG"; printf '\\n' >>"$STUB_LOG"
# What the inventory held when the playbook started.
while (($# > 0)); do
  if [[ "$1" == -i ]]; then cat "$2" >"$STUB_LOG.inventory"; fi
  shift
done
exit "\${STUB_PLAYBOOK_EXIT:-0}"
`;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'oven-deploy-'));
  stubs = path.join(work, 'bin');
  await mkdir(stubs);
  await writeFile(path.join(stubs, 'pulumi'), pulumiStub);
  await writeFile(path.join(stubs, 'ansible-playbook'), playbookStub);
  await chmod(path.join(stubs, 'pulumi'), 0o755);
  await chmod(path.join(stubs, 'ansible-playbook'), 0o755);
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A fresh copy of the script in a tree shaped like the repository, and an empty log. */
beforeEach(async () => {
  tree = await mkdtemp(path.join(work, 'tree-'));
  for (const dir of ['scripts', 'ansible', 'infra']) await mkdir(path.join(tree, dir));
  await copyFile(script, path.join(tree, 'scripts/deploy.sh'));
  await writeFile(path.join(tree, 'ansible/site.yml'), '---\n');
  log = path.join(tree, 'calls.log');
});

interface Call {
  tool: string;
  args: string[];
}

async function deploy(args: string[], env: Record<string, string> = {}, PATH = `${stubs}:${process.env.PATH}`) {
  const result = await run('bash', [path.join(tree, 'scripts/deploy.sh'), ...args], {
    cwd: work,
    env: { PATH, STUB_LOG: log, STUB_INVENTORY: inventoryText, ...env },
  });
  const calls: Call[] = (await readFile(log, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [tool = '', ...rest] = line.split('\t');
      return { tool, args: rest };
    });
  return { ...result, calls };
}

test('bash -n accepts the script, and shellcheck finds nothing when it is installed', async (t) => {
  const syntax = await run('bash', ['-n', script]);
  assert.equal(syntax.code, 0, tail(syntax.output));
  if (spawnSync('sh', ['-c', 'command -v shellcheck']).status !== 0) {
    t.skip('shellcheck is not installed (apt-get install shellcheck)');
    return;
  }
  const lint = await run('shellcheck', [script]);
  assert.equal(lint.code, 0, tail(lint.output));
});

test('pulumi up runs first, then the inventory is written from its output, then the playbook', async () => {
  const result = await deploy(['--stack', 'production', '--yes', '--', '--ask-vault-pass', '--tags', 'deploy']);
  assert.equal(result.code, 0, tail(result.output));
  assert.deepEqual(result.calls, [
    { tool: 'pulumi', args: ['--cwd', path.join(tree, 'infra'), 'up', '--stack', 'production', '--yes'] },
    { tool: 'pulumi', args: ['--cwd', path.join(tree, 'infra'), 'stack', 'output', 'ansibleInventory', '--stack', 'production'] },
    { tool: 'ansible-playbook', args: ['-i', inventory(), path.join(tree, 'ansible/site.yml'), '--ask-vault-pass', '--tags', 'deploy'] },
  ]);
  assert.equal(await readFile(inventory(), 'utf8'), inventoryText);
  // The playbook started with the new inventory already in place.
  assert.equal(await readFile(`${log}.inventory`, 'utf8'), inventoryText);
});

test('without --stack or --yes, Pulumi uses the selected stack and asks before it changes anything', async () => {
  const result = await deploy([]);
  assert.equal(result.code, 0, tail(result.output));
  assert.deepEqual(result.calls[0], { tool: 'pulumi', args: ['--cwd', path.join(tree, 'infra'), 'up'] });
  assert.deepEqual(result.calls[2], { tool: 'ansible-playbook', args: ['-i', inventory(), path.join(tree, 'ansible/site.yml')] });
});

test('a failing pulumi up stops the deploy: no inventory is written and no playbook runs', async () => {
  await writeFile(inventory(), 'the previous inventory\n');
  const result = await deploy(['--stack', 'production'], { STUB_UP_EXIT: '3' });
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /pulumi up failed: the inventory and the hosts are left as they were/);
  assert.deepEqual(result.calls.map((c) => `${c.tool} ${c.args[2]}`), ['pulumi up']);
  assert.equal(await readFile(inventory(), 'utf8'), 'the previous inventory\n');
});

test('a failing or empty stack output leaves the previous inventory and runs no playbook', async () => {
  const cases: Record<string, string>[] = [{ STUB_OUTPUT_EXIT: '1' }, { STUB_INVENTORY: '' }, { STUB_INVENTORY: '[secret]\n' }];
  for (const env of cases) {
    await writeFile(inventory(), 'the previous inventory\n');
    await rm(log, { force: true });
    const result = await deploy([], env);
    assert.notEqual(result.code, 0, JSON.stringify(env));
    assert.match(result.stderr, /ansibleInventory/, tail(result.output));
    assert.ok(!result.calls.some((c) => c.tool === 'ansible-playbook'), `${JSON.stringify(env)}: the playbook ran`);
    assert.equal(await readFile(inventory(), 'utf8'), 'the previous inventory\n');
    assert.deepEqual((await readdir(path.join(tree, 'ansible'))).sort(), ['inventory.ini', 'site.yml'], 'the partial file is removed');
  }
});

test('a failing playbook fails the deploy', async () => {
  const result = await deploy([], { STUB_PLAYBOOK_EXIT: '2' });
  assert.notEqual(result.code, 0);
  assert.equal(result.calls.length, 3);
});

test('--skip-infra runs only the playbook, with the inventory already there', async () => {
  await writeFile(inventory(), inventoryText);
  const result = await deploy(['--skip-infra', '--', '--limit', 'oven_workers']);
  assert.equal(result.code, 0, tail(result.output));
  assert.deepEqual(result.calls, [
    { tool: 'ansible-playbook', args: ['-i', inventory(), path.join(tree, 'ansible/site.yml'), '--limit', 'oven_workers'] },
  ]);
});

test('--skip-infra without an inventory says how to make one', async () => {
  const result = await deploy(['--skip-infra']);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /no ansible\/inventory\.ini: run once without --skip-infra/);
  assert.deepEqual(result.calls, []);
});

test('--skip-playbook runs pulumi up and writes the inventory only', async () => {
  const result = await deploy(['--skip-playbook', '--stack=staging']);
  assert.equal(result.code, 0, tail(result.output));
  assert.deepEqual(result.calls.map((c) => c.tool), ['pulumi', 'pulumi']);
  assert.ok(result.calls.every((c) => c.args.includes('staging')));
  assert.equal(await readFile(inventory(), 'utf8'), inventoryText);
});

test('an unknown option, a missing stack name, or both halves skipped stop it before anything runs', async () => {
  for (const args of [['--tags', 'deploy'], ['--stack'], ['--skip-infra', '--skip-playbook']]) {
    const result = await deploy(args);
    assert.notEqual(result.code, 0, args.join(' '));
    assert.match(result.stderr, /^deploy: /m);
    assert.deepEqual(result.calls, [], args.join(' '));
  }
  await assert.rejects(stat(inventory()), { code: 'ENOENT' });
});

test('a missing ansible-playbook stops it before pulumi up changes anything', async () => {
  // A PATH with the pulumi stand-in and the few programs the script needs, but no ansible-playbook.
  const bare = path.join(tree, 'bare-bin');
  await mkdir(bare);
  await copyFile(path.join(stubs, 'pulumi'), path.join(bare, 'pulumi'));
  await chmod(path.join(bare, 'pulumi'), 0o755);
  for (const tool of ['bash', 'dirname', 'mktemp', 'mv', 'rm', 'grep', 'sed', 'cat']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    await symlink(found, path.join(bare, tool));
  }
  const result = await deploy([], {}, bare);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /ansible-playbook is not installed or not on PATH/);
  assert.deepEqual(result.calls, []);
});

test('--help prints the usage', async () => {
  const result = await deploy(['--help']);
  assert.equal(result.code, 0, tail(result.output));
  assert.match(result.stdout, /^Usage: scripts\/deploy\.sh \[options\] \[-- ansible-playbook arguments\]/);
  assert.match(result.stdout, /--skip-infra/);
  assert.deepEqual(result.calls, []);
});
