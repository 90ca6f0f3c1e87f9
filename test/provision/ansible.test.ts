// The playbook parses, and ansible-lint's production profile finds nothing in it; its plays
// go one host at a time, workers first and without Caddy; each group gets its OVEN_ROLE.

import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ansibleDir, run, tail } from './tools.ts';

const stripAnsi = (text: string) => text.replace(/\u001b\[[0-9;]*m|\u001b\]8;[^\u001b]*\u001b\\/g, '');

test('ansible-playbook --syntax-check accepts site.yml with the example inventory', async () => {
  const result = await run('ansible-playbook', ['--syntax-check', '-i', 'inventory.example.ini', 'site.yml'], { cwd: ansibleDir });
  assert.equal(result.code, 0, tail(result.output));
  assert.match(result.stdout, /playbook: site\.yml/);
});

test('ansible-lint passes with the production profile, offline, on every role', async () => {
  const paths = ['site.yml', 'group_vars', ...['base', 'nodejs', 'ffmpeg', 'caddy', 'oven'].map((role) => `roles/${role}`)];
  const result = await run('ansible-lint', ['-c', '.ansible-lint', ...paths], { cwd: ansibleDir });
  const output = stripAnsi(result.output);
  assert.equal(result.code, 0, tail(output));
  assert.match(output, /Passed with production profile: 0 failure\(s\), 0 warning\(s\)/, tail(output));
  // ansible-lint lists only the files it found: make sure the roles were among them.
  const files = Number(/on (\d+) files/.exec(output)?.[1] ?? 0);
  assert.ok(files >= 30, `ansible-lint looked at only ${files} files:\n${tail(output)}`);
});

interface Play {
  name: string;
  hosts: string;
  serial?: number;
  max_fail_percentage?: number;
  roles: { role: string }[];
}

test('site.yml deploys the workers first, then the API droplet, each one host at a time', async () => {
  // site.yml as data (PyYAML comes with ansible), for the keys --list-tasks does not show.
  const read = await run('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', path.join(ansibleDir, 'site.yml')]);
  assert.equal(read.code, 0, tail(read.output));
  const plays = JSON.parse(read.stdout) as Play[];
  assert.deepEqual(plays.map((play) => play.hosts), ["{{ groups['oven_workers'] | default([]) }}", 'oven']);
  for (const play of plays) {
    assert.equal(play.serial, 1, `${play.name}: one host at a time`);
    assert.equal(play.max_fail_percentage, 0, `${play.name}: a failed host stops the run`);
  }
  assert.deepEqual(plays[0]!.roles.map((r) => r.role), ['base', 'nodejs', 'ffmpeg', 'oven'], 'workers get no Caddy');
  assert.deepEqual(plays[1]!.roles.map((r) => r.role), ['base', 'nodejs', 'ffmpeg', 'caddy', 'oven']);

  // And Ansible sees the same: no Caddy task in the workers' play.
  const listed = await run('ansible-playbook', ['--list-tasks', '-i', 'inventory.example.ini', 'site.yml'], { cwd: ansibleDir });
  assert.equal(listed.code, 0, tail(listed.output));
  const [, workers = '', api = ''] = listed.stdout.split(/^\s*play #\d+ /m);
  assert.match(workers, /^\(oven-production-worker-1,oven-production-worker-2\)/);
  assert.doesNotMatch(workers, /^\s*caddy : /m);
  assert.match(workers, /^\s*oven : /m);
  assert.match(api, /^\(oven\)/);
  assert.match(api, /^\s*caddy : /m);
});

test('a single-machine inventory (no oven_workers group) runs the API play only, without a warning', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'oven-single-'));
  try {
    const inventory = path.join(work, 'inventory.ini');
    // What Pulumi writes for a stack without workers.
    await writeFile(inventory, '[oven]\noven.example.test ansible_host=203.0.113.10 ansible_user=root oven_domain=oven.example.test\n');
    const result = await run('ansible-playbook', ['--list-hosts', '-i', inventory, 'site.yml'], { cwd: ansibleDir });
    assert.equal(result.code, 0, tail(result.output));
    assert.doesNotMatch(result.output, /WARNING/, tail(result.output));
    assert.match(result.stdout, /Provision the oven workers\.[^\n]*\n\s*pattern: \[\]\n\s*hosts \(0\):/);
    assert.match(result.stdout, /Provision the oven API hosts\.[^\n]*\n\s*pattern: \['oven'\]\n\s*hosts \(1\):\n\s*oven\.example\.test/);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('group_vars give the API droplet OVEN_ROLE=api only with workers and Redis, and workers OVEN_ROLE=worker', async () => {
  // A copy of group_vars without an operator's encrypted vault.yml, beside a test inventory.
  const work = await mkdtemp(path.join(os.tmpdir(), 'oven-groups-'));
  try {
    await cp(path.join(ansibleDir, 'group_vars'), path.join(work, 'group_vars'), {
      recursive: true,
      filter: (source) => path.basename(source) !== 'vault.yml',
    });
    const example = await readFile(path.join(ansibleDir, 'inventory.example.ini'), 'utf8');
    /** Each host's value of `name`, with this inventory and these extra vars. */
    const resolve = async (name: string, inventory: string, extra: Record<string, string> = {}) => {
      const file = path.join(work, 'inventory.ini');
      await writeFile(file, inventory);
      const result = await run('ansible', ['all', '-i', file, '-m', 'ansible.builtin.debug', '-a', `var=${name}`, '-e', JSON.stringify(extra)], { cwd: work });
      assert.equal(result.code, 0, tail(result.output));
      const values = result.stdout.matchAll(new RegExp(`^(\\S+) \\| SUCCESS => \\{\\s*"${name}": "([^"]*)"`, 'gm'));
      return Object.fromEntries([...values].map((m) => [m[1], m[2]]));
    };
    const redis = { vault_oven_redis_url: 'rediss://default:secret@private-valkey.example.test:25061' };
    assert.deepEqual(await resolve('oven_role', example, redis), { 'oven.aesthetic.computer': 'api', 'oven-production-worker-1': 'worker', 'oven-production-worker-2': 'worker' });
    // Redis without workers: the API droplet still bakes.
    assert.deepEqual(await resolve('oven_role', '[oven]\noven.aesthetic.computer\n', redis), { 'oven.aesthetic.computer': 'all' });
    // No Redis: the single-machine mode (the role refuses the workers, see oven-role.test.ts).
    assert.deepEqual(await resolve('oven_role', example), { 'oven.aesthetic.computer': 'all', 'oven-production-worker-1': 'worker', 'oven-production-worker-2': 'worker' });
    // One vault for both groups: group_vars/all.
    const secret = 'shared-secret-0123456789';
    assert.deepEqual(await resolve('oven_callback_secret', example, { vault_callback_secret: secret }), {
      'oven.aesthetic.computer': secret,
      'oven-production-worker-1': secret,
      'oven-production-worker-2': secret,
    });
    assert.deepEqual(await resolve('oven_redis_url', example, redis), {
      'oven.aesthetic.computer': redis.vault_oven_redis_url,
      'oven-production-worker-1': redis.vault_oven_redis_url,
      'oven-production-worker-2': redis.vault_oven_redis_url,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
