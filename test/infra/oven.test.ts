// The policies an operator relies on, read from what the program asks the providers for.
// createOven is called once per case inside one set of mocks; config is set per case.

import assert from 'node:assert/strict';
import { before, beforeEach, describe, test } from 'node:test';
import * as pulumi from '@pulumi/pulumi';
import { FAKE, minimalConfig, registered, useMocks, valueOf } from './mocks.ts';

await useMocks();
// Imported after the mocks, like the program itself would be.
const { readOvenConfig } = await import('../../infra/config.ts');
const { createOven } = await import('../../infra/oven.ts');
type Oven = ReturnType<typeof createOven>;

function build(config: Record<string, string>): Oven {
  pulumi.runtime.setAllConfig(config);
  return createOven(readOvenConfig());
}

interface Rule {
  protocol: string;
  portRange?: string;
  sourceAddresses?: string[];
  destinationAddresses?: string[];
}

const CLOUDFLARE = [...FAKE.cloudflareV4, ...FAKE.cloudflareV6];
const WORLD = ['0.0.0.0/0', '::/0'];

describe('the firewall', () => {
  let inbound: Rule[];
  let outbound: Rule[];
  before(async () => {
    const oven = build(minimalConfig());
    inbound = (await valueOf(oven.firewall.inboundRules)) as Rule[];
    outbound = (await valueOf(oven.firewall.outboundRules)) as Rule[];
  });

  test('lets SSH in only from oven:sshAllowedCidrs, never from the world', () => {
    const ssh = inbound.filter((rule) => rule.protocol === 'tcp' && rule.portRange === '22');
    assert.deepEqual(ssh.map((rule) => rule.sourceAddresses), [['192.0.2.0/24', '2001:db8::/48']]);
    for (const rule of inbound.filter((r) => r.protocol !== 'icmp')) {
      for (const world of WORLD) assert.ok(!rule.sourceAddresses?.includes(world), `${rule.protocol}/${rule.portRange} open to ${world}`);
    }
  });

  test('lets 80 and 443 in only from Cloudflare, IPv4 and IPv6', () => {
    for (const port of ['80', '443']) {
      const rules = inbound.filter((rule) => rule.protocol === 'tcp' && rule.portRange === port);
      assert.deepEqual(rules.map((rule) => rule.sourceAddresses), [CLOUDFLARE], `port ${port}`);
    }
  });

  test('lets nothing else in but ICMP', () => {
    const shapes = inbound.map((rule) => `${rule.protocol}/${rule.portRange ?? '-'}`).sort();
    assert.deepEqual(shapes, ['icmp/-', 'tcp/22', 'tcp/443', 'tcp/80']);
  });

  test('lets out only DNS, HTTP, HTTPS and NTP', () => {
    const shapes = outbound.map((rule) => `${rule.protocol}/${rule.portRange ?? '-'}`).sort();
    assert.deepEqual(shapes, ['tcp/443', 'tcp/53', 'tcp/80', 'udp/123', 'udp/53']);
    for (const rule of outbound) assert.deepEqual(rule.destinationAddresses, WORLD);
  });
});

describe('the host', () => {
  let oven: Oven;
  beforeEach(() => {
    registered.length = 0;
    oven = build(minimalConfig());
  });

  test('is covered by the firewall, through a tag the droplet carries', async () => {
    const firewallTags = await valueOf(oven.firewall.tags);
    const dropletTags = await valueOf(oven.droplet.tags);
    assert.ok(firewallTags && firewallTags.length > 0, 'the firewall applies to a tag');
    for (const tag of firewallTags) assert.ok(dropletTags?.includes(tag), `the droplet carries ${tag}`);
    assert.deepEqual(firewallTags, ['oven-test'], 'one tag per stack');
  });

  test('runs in the default region and image, with monitoring on and the stack SSH key', async () => {
    assert.equal(await valueOf(oven.droplet.region), 'sfo3');
    assert.equal(await valueOf(oven.droplet.image), 'ubuntu-24-04-x64');
    assert.equal(await valueOf(oven.droplet.size), 's-1vcpu-1gb');
    assert.equal(await valueOf(oven.droplet.monitoring), true);
    const key = registered.find((r) => r.type === 'digitalocean:index/sshKey:SshKey');
    assert.equal(key?.inputs['publicKey'], FAKE.sshPublicKey);
    assert.equal((await valueOf(oven.droplet.sshKeys))?.length, 1);
  });

  test('keeps a reserved IP in its region, attached to the droplet', async () => {
    assert.equal(await valueOf(oven.reservedIp.region), 'sfo3');
    assert.equal(await valueOf(oven.ip), FAKE.reservedIp);
    await valueOf(oven.dnsRecord.urn); // the record waits for the assignment, so it is registered by now
    const assignment = registered.find((r) => r.type === 'digitalocean:index/reservedIpAssignment:ReservedIpAssignment');
    assert.deepEqual(assignment?.inputs, { ipAddress: FAKE.reservedIp, dropletId: Number(FAKE.dropletId) });
  });

  test('is named by a proxied A record with automatic TTL, pointing at the reserved IP', async () => {
    assert.equal(await valueOf(oven.dnsRecord.type), 'A');
    assert.equal(await valueOf(oven.dnsRecord.name), 'oven.aesthetic.computer');
    assert.equal(await valueOf(oven.dnsRecord.content), FAKE.reservedIp);
    assert.notEqual(FAKE.reservedIp, FAKE.dropletIp, 'the droplet’s own address would not survive a rebuild');
    assert.equal(await valueOf(oven.dnsRecord.proxied), true);
    assert.equal(await valueOf(oven.dnsRecord.ttl), 1);
    assert.equal(await valueOf(oven.dnsRecord.zoneId), FAKE.zoneId);
  });

  test('is watched on https://<domain>/health, with no alerts when oven:alertEmail is unset', async () => {
    assert.equal(await valueOf(oven.uptimeCheck.target), 'https://oven.aesthetic.computer/health');
    assert.equal(await valueOf(oven.uptimeCheck.type), 'https');
    assert.deepEqual(oven.uptimeAlerts, []);
    assert.ok(!registered.some((r) => r.type === 'digitalocean:index/uptimeAlert:UptimeAlert'));
  });

  test('hands Ansible an inventory: group oven, the reserved IP, as root', async () => {
    assert.equal(await valueOf(oven.ip), FAKE.reservedIp);
    assert.equal(oven.url, 'https://oven.aesthetic.computer');
    assert.equal(
      await valueOf(oven.ansibleInventory),
      `[oven]\noven.aesthetic.computer ansible_host=${FAKE.reservedIp} ansible_user=root oven_domain=oven.aesthetic.computer\n`,
    );
  });
});

describe('a stack with its own settings', () => {
  let oven: Oven;
  before(() => {
    registered.length = 0;
    oven = build(
      minimalConfig({
        'oven:domain': 'oven.example.org',
        'oven:region': 'nyc3',
        'oven:image': 'ubuntu-22-04-x64',
        'oven:dropletSize': 's-2vcpu-4gb',
        'oven:alertEmail': 'ops@example.org',
      }),
    );
  });

  test('places everything where it says', async () => {
    assert.equal(await valueOf(oven.droplet.region), 'nyc3');
    assert.equal(await valueOf(oven.reservedIp.region), 'nyc3');
    assert.equal(await valueOf(oven.droplet.image), 'ubuntu-22-04-x64');
    assert.equal(await valueOf(oven.droplet.size), 's-2vcpu-4gb');
    assert.equal(await valueOf(oven.dnsRecord.name), 'oven.example.org');
    assert.equal(await valueOf(oven.uptimeCheck.target), 'https://oven.example.org/health');
  });

  test('alerts oven:alertEmail when the check is down, slow, or its certificate is expiring', async () => {
    const checkId = await valueOf(oven.uptimeCheck.id);
    const alerts = await Promise.all(
      oven.uptimeAlerts.map(async (alert) => ({
        type: await valueOf(alert.type),
        checkId: await valueOf(alert.checkId),
        emails: (await valueOf(alert.notifications)).flatMap((n) => n.emails ?? []),
      })),
    );
    assert.deepEqual(alerts.map((a) => a.type).sort(), ['down', 'latency', 'ssl_expiry']);
    for (const alert of alerts) {
      assert.equal(alert.checkId, checkId);
      assert.deepEqual(alert.emails, ['ops@example.org']);
    }
  });
});

test('no firewall is built when Cloudflare publishes no ranges', async () => {
  const { inboundRules } = await import('../../infra/firewall.ts');
  assert.throws(() => inboundRules({ ipv4Cidrs: [], ipv6Cidrs: [] }, ['192.0.2.0/24']), /Cloudflare returned no IPv4 ranges/);
});
