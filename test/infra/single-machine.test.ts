// The single-machine stack, pinned: what the program asked the providers for before worker
// droplets existed. A stack that never sets oven:workers (or sets it to 0) must keep asking for
// exactly this, so `pulumi up` after an upgrade of this program shows no change at all.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as pulumi from '@pulumi/pulumi';
import { FAKE, minimalConfig, registered, useMocks, valueOf } from './mocks.ts';
import type { Registered } from './mocks.ts';

await useMocks();
const { readOvenConfig } = await import('../../infra/config.ts');
const { createOven } = await import('../../infra/oven.ts');

const CLOUDFLARE = [...FAKE.cloudflareV4, ...FAKE.cloudflareV6];
const WORLD = ['0.0.0.0/0', '::/0'];
const ONE_HOST_INVENTORY = `[oven]\noven.aesthetic.computer ansible_host=${FAKE.reservedIp} ansible_user=root oven_domain=oven.aesthetic.computer\n`;

/** Every resource and the inputs it was registered with, as the program produced them before workers. */
const SINGLE_MACHINE: Registered[] = [
  {
    type: 'cloudflare:index/dnsRecord:DnsRecord',
    name: 'oven',
    inputs: {
      comment: 'Oven, managed by Pulumi stack test',
      content: FAKE.reservedIp,
      name: 'oven.aesthetic.computer',
      proxied: true,
      ttl: 1,
      type: 'A',
      zoneId: FAKE.zoneId,
    },
  },
  {
    type: 'digitalocean:index/droplet:Droplet',
    name: 'oven',
    inputs: {
      image: 'ubuntu-24-04-x64',
      ipv6: true,
      monitoring: true,
      name: 'oven-test',
      region: 'sfo3',
      size: 's-1vcpu-1gb',
      sshKeys: ['3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa'],
      tags: ['oven-test'],
    },
  },
  {
    type: 'digitalocean:index/firewall:Firewall',
    name: 'oven',
    inputs: {
      name: 'oven-test',
      tags: ['oven-test'],
      inboundRules: [
        { protocol: 'tcp', portRange: '80', sourceAddresses: CLOUDFLARE },
        { protocol: 'tcp', portRange: '443', sourceAddresses: CLOUDFLARE },
        { protocol: 'tcp', portRange: '22', sourceAddresses: ['192.0.2.0/24', '2001:db8::/48'] },
        { protocol: 'icmp', sourceAddresses: WORLD },
      ],
      outboundRules: [
        { protocol: 'tcp', portRange: '53', destinationAddresses: WORLD },
        { protocol: 'udp', portRange: '53', destinationAddresses: WORLD },
        { protocol: 'tcp', portRange: '80', destinationAddresses: WORLD },
        { protocol: 'tcp', portRange: '443', destinationAddresses: WORLD },
        { protocol: 'udp', portRange: '123', destinationAddresses: WORLD },
      ],
    },
  },
  { type: 'digitalocean:index/reservedIp:ReservedIp', name: 'oven', inputs: { region: 'sfo3' } },
  {
    type: 'digitalocean:index/reservedIpAssignment:ReservedIpAssignment',
    name: 'oven',
    inputs: { dropletId: Number(FAKE.dropletId), ipAddress: FAKE.reservedIp },
  },
  { type: 'digitalocean:index/sshKey:SshKey', name: 'oven', inputs: { name: 'oven-test', publicKey: FAKE.sshPublicKey } },
  { type: 'digitalocean:index/tag:Tag', name: 'oven', inputs: { name: 'oven-test' } },
  {
    type: 'digitalocean:index/uptimeCheck:UptimeCheck',
    name: 'oven-health',
    inputs: {
      enabled: true,
      name: 'oven-test /health',
      regions: ['us_east', 'us_west', 'eu_west', 'se_asia'],
      target: 'https://oven.aesthetic.computer/health',
      type: 'https',
    },
  },
];

const key = (resource: Registered): string => `${resource.type}::${resource.name}`;
const byKey = (a: Registered, b: Registered): number => key(a).localeCompare(key(b));

for (const [label, extra] of [
  ['without oven:workers', {}],
  ['with oven:workers set to 0', { 'oven:workers': '0' }],
] as const) {
  test(`${label}, the stack is exactly the single machine it was`, async (t) => {
    registered.length = 0;
    pulumi.runtime.setAllConfig(minimalConfig(extra));
    const oven = createOven(readOvenConfig());
    // The record waits for the IP assignment and the check for the record: once both are
    // registered, so is everything else.
    await valueOf(oven.uptimeCheck.urn);
    const inventory = await valueOf(oven.ansibleInventory);

    await t.test('the same resources, under the same URNs', async () => {
      assert.deepEqual(registered.map(key).sort(), SINGLE_MACHINE.map(key).sort());
      assert.equal(await valueOf(oven.droplet.urn), 'urn:pulumi:test::oven::digitalocean:index/droplet:Droplet::oven');
      assert.equal(await valueOf(oven.firewall.urn), 'urn:pulumi:test::oven::digitalocean:index/firewall:Firewall::oven');
    });

    await t.test('each asked for with the same inputs, the droplet outside any VPC of ours', () => {
      assert.deepEqual([...registered].sort(byKey), [...SINGLE_MACHINE].sort(byKey));
      const droplet = registered.find((r) => r.type === 'digitalocean:index/droplet:Droplet');
      assert.ok(droplet && !('vpcUuid' in droplet.inputs), 'no vpcUuid: the droplet stays where it is');
    });

    await t.test('no VPC, no database, no worker', () => {
      const extraTypes = registered.filter((r) => /vpc|database/i.test(r.type) || /worker/i.test(r.name));
      assert.deepEqual(extraTypes, []);
      assert.equal(registered.filter((r) => r.type === 'digitalocean:index/droplet:Droplet').length, 1);
    });

    await t.test('the same inventory text: one group, one host', () => {
      assert.equal(inventory, ONE_HOST_INVENTORY);
    });
  });
}
