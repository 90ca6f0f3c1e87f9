// The stack's settings: defaults, and refusals that name the key and say what to do.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as pulumi from '@pulumi/pulumi';
import { DEFAULTS, readOvenConfig } from '../../infra/config.ts';
import { FAKE, minimalConfig } from './mocks.ts';

function readWith(config: Record<string, string>) {
  pulumi.runtime.setAllConfig(config);
  return readOvenConfig();
}

/** Asserts that reading `config` fails with a Pulumi RunError whose sentence matches `message`. */
function assertRefused(config: Record<string, string>, message: RegExp): void {
  assert.throws(
    () => readWith(config),
    (err: unknown) => {
      assert.ok(pulumi.RunError.isInstance(err), 'a RunError, which the CLI prints without a stack trace');
      assert.match((err as Error).message, message);
      return true;
    },
  );
}

test('the required keys alone give the documented defaults', () => {
  const config = readWith(minimalConfig());
  assert.deepEqual(config, {
    domain: 'oven.aesthetic.computer',
    cloudflareZoneId: FAKE.zoneId,
    sshPublicKey: FAKE.sshPublicKey,
    sshAllowedCidrs: ['192.0.2.0/24', '2001:db8::/48'],
    region: 'sfo3',
    dropletSize: 's-1vcpu-1gb',
    image: 'ubuntu-24-04-x64',
    alertEmail: undefined,
    workers: 0,
    workerSize: 's-1vcpu-1gb',
    valkeySize: 'db-s-1vcpu-1gb',
    valkeyVersion: '8',
    valkeyNodeCount: 1,
  });
  assert.equal(DEFAULTS.region, 'sfo3');
});

test('set values replace the defaults', () => {
  const config = readWith(
    minimalConfig({
      'oven:domain': 'Oven2.Example.com.',
      'oven:region': 'nyc3',
      'oven:dropletSize': 's-2vcpu-4gb',
      'oven:image': 'ubuntu-22-04-x64',
      'oven:alertEmail': 'ops@example.com',
    }),
  );
  assert.equal(config.domain, 'oven2.example.com');
  assert.equal(config.region, 'nyc3');
  assert.equal(config.dropletSize, 's-2vcpu-4gb');
  assert.equal(config.image, 'ubuntu-22-04-x64');
  assert.equal(config.alertEmail, 'ops@example.com');
});

test('the worker pool and its Valkey take their sizes from the stack', () => {
  const config = readWith(
    minimalConfig({
      'oven:workers': '3',
      'oven:workerSize': 's-2vcpu-4gb',
      'oven:valkeySize': 'db-s-2vcpu-4gb',
      'oven:valkeyVersion': '8',
      'oven:valkeyNodeCount': '2',
    }),
  );
  assert.equal(config.workers, 3);
  assert.equal(config.workerSize, 's-2vcpu-4gb');
  assert.equal(config.valkeySize, 'db-s-2vcpu-4gb');
  assert.equal(config.valkeyVersion, '8');
  assert.equal(config.valkeyNodeCount, 2);
  assert.equal(readWith(minimalConfig({ 'oven:workers': '0' })).workers, 0);
  assert.equal(readWith(minimalConfig({ 'oven:workers': '20' })).workers, 20);
});

test('oven:workers outside 0..20, or not a whole number, is refused with the range', () => {
  for (const raw of ['21', '-1', '2.5', '1e1', 'two', '0x3', '200']) {
    assertRefused(
      minimalConfig({ 'oven:workers': raw }),
      new RegExp(`^oven:workers must be a whole number from 0 to 20 \\(worker droplets; 0 keeps the single machine\\), got "${raw.replace('.', '\\.')}"\\.$`),
    );
  }
});

test('Valkey settings that DigitalOcean would refuse are refused first', () => {
  for (const raw of ['0', '4', 'one']) {
    assertRefused(minimalConfig({ 'oven:valkeyNodeCount': raw }), /^oven:valkeyNodeCount must be a whole number from 1 to 3 \(Valkey nodes\)/);
  }
  assertRefused(minimalConfig({ 'oven:valkeyVersion': 'latest' }), /^oven:valkeyVersion must be a Valkey version such as "8", got "latest"\.$/);
  assertRefused(minimalConfig({ 'oven:valkeySize': 'DB 1GB' }), /^oven:valkeySize must be a DigitalOcean slug such as "db-s-1vcpu-1gb"/);
  assertRefused(minimalConfig({ 'oven:workerSize': 's_1vcpu' }), /^oven:workerSize must be a DigitalOcean slug such as "s-1vcpu-1gb"/);
});

describe('a missing required key is named, with the command that sets it', () => {
  for (const key of ['cloudflareZoneId', 'sshPublicKey', 'sshAllowedCidrs']) {
    test(key, () => {
      const config = minimalConfig();
      delete config[`oven:${key}`];
      assertRefused(config, new RegExp(`^oven:${key} is required; set it with: pulumi config set oven:${key} `));
      assertRefused({ ...config, [`oven:${key}`]: '  ' }, new RegExp(`^oven:${key} is required`));
    });
  }
});

describe('SSH is never opened to the world', () => {
  for (const world of ['0.0.0.0/0', '::/0', '198.51.100.7/0']) {
    test(`${world} is refused`, () => {
      assertRefused(
        minimalConfig({ 'oven:sshAllowedCidrs': JSON.stringify(['192.0.2.0/24', world]) }),
        /oven:sshAllowedCidrs has ".*", which opens SSH to the whole internet/,
      );
    });
  }
  for (const nearWorld of ['0.0.0.0/1', '128.0.0.0/7', '2000::/3']) {
    test(`${nearWorld} (a large share of the internet) is refused`, () => {
      assertRefused(
        minimalConfig({ 'oven:sshAllowedCidrs': JSON.stringify([nearWorld]) }),
        /oven:sshAllowedCidrs has ".*", which covers too much of the internet/,
      );
    });
  }
});

test('SSH sources: bare addresses become single-host CIDRs, repeats are dropped', () => {
  const config = readWith(
    minimalConfig({ 'oven:sshAllowedCidrs': JSON.stringify(['203.0.113.7', '2001:db8::1', '203.0.113.7/32', '10.0.0.0/8']) }),
  );
  assert.deepEqual(config.sshAllowedCidrs, ['203.0.113.7/32', '2001:db8::1/128', '10.0.0.0/8']);
});

test('SSH sources that are not a JSON list of CIDRs are refused with an example', () => {
  const cases: Array<[string, RegExp]> = [
    ['203.0.113.7/32', /must be a JSON list of CIDRs, e\.g\. pulumi config set oven:sshAllowedCidrs/],
    ['[]', /must be a non-empty JSON list/],
    ['{"a": "203.0.113.7/32"}', /must be a non-empty JSON list/],
    ['[32]', /must be a non-empty JSON list/],
    ['["example.com"]', /"example\.com", which is not an IPv4 or IPv6 address or CIDR/],
    ['["203.0.113.7/33"]', /an IPv4 prefix is at most \/32/],
    ['["203.0.113.7/24/1"]', /not an IPv4 or IPv6 address or CIDR/],
    ['["203.0.113.7/x"]', /not an IPv4 or IPv6 address or CIDR/],
  ];
  for (const [raw, message] of cases) {
    assertRefused(minimalConfig({ 'oven:sshAllowedCidrs': raw }), message);
  }
});

test('a private key, or something that is not a key, is refused as oven:sshPublicKey', () => {
  assertRefused(
    minimalConfig({ 'oven:sshPublicKey': '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----' }),
    /^oven:sshPublicKey holds a private key/,
  );
  assertRefused(minimalConfig({ 'oven:sshPublicKey': 'hello' }), /^oven:sshPublicKey must be one OpenSSH public key line/);
});

test('malformed optional values are refused, naming the key', () => {
  assertRefused(minimalConfig({ 'oven:domain': 'https://oven.example.com' }), /^oven:domain must be a host name/);
  assertRefused(minimalConfig({ 'oven:cloudflareZoneId': 'my-zone' }), /^oven:cloudflareZoneId must be the 32-character hex Zone ID/);
  assertRefused(minimalConfig({ 'oven:region': 'SFO 3' }), /^oven:region must be a DigitalOcean slug such as "sfo3"/);
  assertRefused(minimalConfig({ 'oven:alertEmail': 'ops' }), /^oven:alertEmail must be one email address/);
});
