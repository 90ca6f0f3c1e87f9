// The repository's Caddyfile: valid for Caddy, and the policies the oven relies on are in the
// config Caddy actually runs (read back with `caddy adapt`).

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ansibleDir, repoRoot, run, tail } from './tools.ts';

const caddyfile = path.join(repoRoot, 'Caddyfile');
let work: string;
let emptySnippets: string;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'oven-caddy-'));
  emptySnippets = await mkdtemp(path.join(work, 'snippets-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Caddy's environment for one run: its own folders, and the snippets folder the Caddyfile imports. */
function caddyEnv(snippets: string, domain?: string) {
  return { HOME: work, XDG_DATA_HOME: work, XDG_CONFIG_HOME: work, OVEN_CADDY_SNIPPETS: snippets, OVEN_DOMAIN: domain };
}

type Json = Record<string, unknown>;

/** Every object in the adapted config whose `handler` is `name`. */
function handlers(node: unknown, name: string, found: Json[] = []): Json[] {
  if (Array.isArray(node)) node.forEach((child) => handlers(child, name, found));
  else if (node && typeof node === 'object') {
    if ((node as Json).handler === name) found.push(node as Json);
    Object.values(node).forEach((child) => handlers(child, name, found));
  }
  return found;
}

async function adapt(domain?: string): Promise<Json> {
  const result = await run('caddy', ['adapt', '--adapter', 'caddyfile', '--config', caddyfile], { env: caddyEnv(emptySnippets, domain) });
  assert.equal(result.code, 0, tail(result.output));
  return JSON.parse(result.stdout) as Json;
}

test('caddy validate accepts the Caddyfile, with and without OVEN_DOMAIN', async () => {
  for (const domain of [undefined, 'oven.example.test']) {
    const result = await run('caddy', ['validate', '--adapter', 'caddyfile', '--config', caddyfile], { env: caddyEnv(emptySnippets, domain) });
    assert.equal(result.code, 0, tail(result.output));
    assert.match(result.output, /Valid configuration/);
  }
});

test('the site is oven.aesthetic.computer unless OVEN_DOMAIN names another', async () => {
  assert.match(JSON.stringify(await adapt()), /"host":\["oven\.aesthetic\.computer"\]/);
  const other = JSON.stringify(await adapt('oven.example.test'));
  assert.match(other, /"host":\["oven\.example\.test"\]/);
  assert.doesNotMatch(other, /oven\.aesthetic\.computer/);
});

test('requests go to the oven on 127.0.0.1:3000, streamed, with bodies capped at 1 MB', async () => {
  const config = await adapt();
  const [proxy, ...more] = handlers(config, 'reverse_proxy');
  assert.equal(more.length, 0, 'one reverse_proxy');
  assert.deepEqual(proxy?.upstreams, [{ dial: '127.0.0.1:3000' }]);
  assert.equal(proxy?.flush_interval, -1, 'flush_interval -1 keeps server-sent events flowing');
  const [body] = handlers(config, 'request_body');
  assert.equal(body?.max_size, 1_000_000);
  const [encode] = handlers(config, 'encode');
  assert.deepEqual(Object.keys((encode?.encodings ?? {}) as Json).sort(), ['gzip', 'zstd']);
});

test('responses carry the security headers and no Server header', async () => {
  const responses = handlers(await adapt(), 'headers').map((h) => h.response as Json);
  const set = Object.assign({}, ...responses.map((r) => r.set ?? {})) as Record<string, string[]>;
  assert.match(set['Strict-Transport-Security']?.[0] ?? '', /max-age=\d{7,}/);
  assert.deepEqual(set['X-Content-Type-Options'], ['nosniff']);
  assert.deepEqual(set['X-Frame-Options'], ['DENY']);
  assert.deepEqual(set['Referrer-Policy'], ['no-referrer']);
  assert.match(set['Content-Security-Policy']?.[0] ?? '', /frame-ancestors 'none'/);
  assert.ok(responses.some((r) => (r.delete as string[] | undefined)?.includes('Server')), 'the Server header is removed');
});

test('access logs are JSON, in a rolled file', async () => {
  const logs = ((await adapt()).logging as Json).logs as Record<string, Json>;
  const access = Object.values(logs).find((l) => (l.include as string[] | undefined)?.some((i) => i.startsWith('http.log.access')));
  assert.deepEqual(access?.encoder, { format: 'json' });
  assert.equal((access?.writer as Json).filename, '/var/log/caddy/oven-access.log');
  assert.ok(Number((access?.writer as Json).roll_size_mb) > 0);
});

test("the caddy role's trusted-proxies snippet names Cloudflare, and Caddy 2.7+ accepts it", async () => {
  const snippets = await mkdtemp(path.join(work, 'role-snippets-'));
  const role = path.join(ansibleDir, 'roles', 'caddy');
  const rendered = await run('ansible', [
    'localhost', '-i', 'localhost,', '-c', 'local', '-m', 'ansible.builtin.template',
    '-a', `src=${role}/templates/trusted-proxies.caddy.j2 dest=${snippets}/trusted-proxies.caddy mode=0644`,
    '-e', `@${role}/defaults/main.yml`,
  ], { env: { ANSIBLE_LOCAL_TEMP: work, ANSIBLE_REMOTE_TMP: work } });
  assert.equal(rendered.code, 0, tail(rendered.output));
  const snippet = await readFile(path.join(snippets, 'trusted-proxies.caddy'), 'utf8');
  assert.match(snippet, /trusted_proxies static 173\.245\.48\.0\/20 .*2400:cb00::\/32/);
  assert.match(snippet, /client_ip_headers Cf-Connecting-Ip/);

  const version = await run('caddy', ['version']);
  const [major = 0, minor = 0] = (/v?(\d+)\.(\d+)/.exec(version.stdout)?.slice(1) ?? []).map(Number);
  const validated = await run('caddy', ['validate', '--adapter', 'caddyfile', '--config', caddyfile], { env: caddyEnv(snippets) });
  if (major > 2 || (major === 2 && minor >= 7)) {
    assert.equal(validated.code, 0, tail(validated.output));
    const adapted = await run('caddy', ['adapt', '--adapter', 'caddyfile', '--config', caddyfile], { env: caddyEnv(snippets) });
    assert.equal(adapted.code, 0, tail(adapted.output));
    assert.match(adapted.stdout, /"trusted_proxies":\{[^}]*173\.245\.48\.0\/20/);
    assert.match(adapted.stdout, /"client_ip_headers":\["Cf-Connecting-Ip"\]/);
  } else {
    // Debian 12's Caddy (2.6.2) predates the option; hosts get Caddy from Caddy's own repository.
    assert.notEqual(validated.code, 0);
    assert.match(validated.output, /unrecognized servers option 'trusted_proxies'/, tail(validated.output));
  }
});
