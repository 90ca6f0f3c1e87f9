// The entry point the Pulumi CLI runs (infra/index.ts): its default export is the stack outputs,
// and a missing setting stops it before any resource is asked for. Each case imports a fresh copy
// of the module (tsx keys modules by URL, query included). The refusals run first, while no
// resource has been registered, so "nothing was created" can be asserted exactly.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as pulumi from '@pulumi/pulumi';
import { FAKE, fakeWorkerIp, minimalConfig, registered, useMocks, valueOf } from './mocks.ts';

await useMocks();

/** The stack outputs, as the Pulumi CLI takes them: the module's only export, its default. */
async function importProgram(caseName: string): Promise<Record<string, unknown>> {
  const module = await import(new URL(`../../infra/index.ts?case=${caseName}`, import.meta.url).href);
  assert.deepEqual(Object.keys(module), ['default'], 'Pulumi refuses a default export next to named ones');
  return module.default;
}

test('a missing oven:sshAllowedCidrs stops the program before it creates anything', async () => {
  const config = minimalConfig();
  delete config['oven:sshAllowedCidrs'];
  pulumi.runtime.setAllConfig(config);
  registered.length = 0;
  await assert.rejects(importProgram('missing'), (err: unknown) => {
    assert.ok(pulumi.RunError.isInstance(err));
    assert.match((err as Error).message, /^oven:sshAllowedCidrs is required; set it with: pulumi config set oven:sshAllowedCidrs '\["203\.0\.113\.7\/32"\]'$/);
    return true;
  });
  assert.deepEqual(registered, []);
});

test('SSH open to the world stops the program before it creates anything', async () => {
  pulumi.runtime.setAllConfig(minimalConfig({ 'oven:sshAllowedCidrs': '["0.0.0.0/0"]' }));
  registered.length = 0;
  await assert.rejects(importProgram('world'), /oven:sshAllowedCidrs has "0\.0\.0\.0\/0", which opens SSH to the whole internet/);
  assert.deepEqual(registered, []);
});

test('exports the IP, the URL and the Ansible inventory', async () => {
  pulumi.runtime.setAllConfig(minimalConfig());
  const program = await importProgram('complete');
  assert.deepEqual(Object.keys(program).sort(), ['ansibleInventory', 'ip', 'url']);
  assert.equal(await valueOf(program['ip'] as pulumi.Output<string>), FAKE.reservedIp);
  assert.equal(program['url'], 'https://oven.aesthetic.computer');
  assert.match(await valueOf(program['ansibleInventory'] as pulumi.Output<string>), /^\[oven\]\noven\.aesthetic\.computer ansible_host=/);
});

test('with workers, also exports their IPs and redisUri, the private Valkey URI as a secret', async () => {
  pulumi.runtime.setAllConfig(minimalConfig({ 'oven:workers': '2' }));
  const program = await importProgram('workers');
  assert.deepEqual(Object.keys(program).sort(), ['ansibleInventory', 'ip', 'redisUri', 'url', 'workerIps']);
  assert.deepEqual(await valueOf(program['workerIps'] as pulumi.Output<string[]>), [fakeWorkerIp(1), fakeWorkerIp(2)]);
  const redisUri = program['redisUri'] as pulumi.Output<string>;
  assert.equal(await pulumi.isSecret(redisUri), true);
  assert.equal(await valueOf(redisUri), FAKE.valkeyPrivateUri);
  assert.match(await valueOf(program['ansibleInventory'] as pulumi.Output<string>), /\n\[oven_workers\]\noven-test-worker-1 ansible_host=/);
});
