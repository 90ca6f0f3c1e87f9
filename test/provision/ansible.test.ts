// The playbook parses, and ansible-lint's production profile finds nothing in it.

import assert from 'node:assert/strict';
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
