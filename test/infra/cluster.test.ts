// The worker pool's policies (oven:workers > 0), read from what the program asks DigitalOcean for:
// who may reach Valkey, what may reach a worker, where everything lives, and what is handed on.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as pulumi from '@pulumi/pulumi';
import { FAKE, fakeWorkerIp, minimalConfig, registered, useMocks, valueOf } from './mocks.ts';
import type { Registered } from './mocks.ts';

await useMocks();
const { readOvenConfig } = await import('../../infra/config.ts');
const { createOven } = await import('../../infra/oven.ts');
const { checkVpcIpRange, VALKEY_PORT } = await import('../../infra/firewall.ts');
type Oven = ReturnType<typeof createOven>;
type Cluster = NonNullable<Oven['cluster']>;

interface Rule {
  protocol: string;
  portRange?: string;
  sourceAddresses?: string[];
  destinationAddresses?: string[];
}

const SSH_CIDRS = ['192.0.2.0/24', '2001:db8::/48'];
const CLOUDFLARE: string[] = [...FAKE.cloudflareV4, ...FAKE.cloudflareV6];
const API_TAG = 'oven-test';

/** Builds the stack for `config` and waits until every resource has been registered. */
async function build(config: Record<string, string>): Promise<{ oven: Oven; cluster: Cluster }> {
  registered.length = 0;
  pulumi.runtime.setAllConfig(config);
  const oven = createOven(readOvenConfig());
  assert.ok(oven.cluster, 'oven:workers > 0 makes the cluster');
  const cluster = oven.cluster;
  await Promise.all([
    valueOf(oven.uptimeCheck.urn),
    valueOf(oven.ansibleInventory),
    valueOf(cluster.valkeyFirewall.urn),
    ...cluster.workers.map((worker) => valueOf(worker.urn)),
  ]);
  return { oven, cluster };
}

/** Whether a rule lets `port` through: ICMP has no ports; TCP and UDP give one port or a range. */
function covers(rule: Rule, port: number): boolean {
  if (rule.protocol === 'icmp') return false;
  const [low = 0, high = low] = (rule.portRange ?? '1-65535').split('-').map(Number);
  return port >= low && port <= high;
}

function ofType(type: string): Registered[] {
  return registered.filter((r) => r.type === `digitalocean:index/${type}`);
}

describe('with oven:workers 3 and nothing else set', () => {
  let oven: Oven;
  let cluster: Cluster;
  let vpcId: string;
  before(async () => {
    ({ oven, cluster } = await build(minimalConfig({ 'oven:workers': '3' })));
    vpcId = await valueOf(cluster.vpc.id);
  });

  describe('Valkey', () => {
    test('is reachable only from the droplets that carry Oven’s tags: the API droplet’s and the workers’', async () => {
      const rules = await valueOf(cluster.valkeyFirewall.rules);
      assert.deepEqual(rules.map((rule) => rule.type), ['tag', 'tag'], 'tag rules only: no IP address, droplet, app or cluster');
      const workerTag = await valueOf(cluster.workerTag.name);
      assert.deepEqual(rules.map((rule) => rule.value).sort(), [API_TAG, workerTag].sort());
      assert.equal(await valueOf(cluster.valkeyFirewall.clusterId), await valueOf(cluster.valkey.id));
      assert.equal(ofType('databaseFirewall:DatabaseFirewall').length, 1, 'one set of trusted sources');
    });

    test('runs the valkey engine, with eviction off (noeviction), at the default size, version and node count', async () => {
      assert.equal(await valueOf(cluster.valkey.engine), 'valkey');
      assert.equal(await valueOf(cluster.valkey.evictionPolicy), 'noeviction');
      assert.equal(await valueOf(cluster.valkey.size), 'db-s-1vcpu-1gb');
      assert.equal(await valueOf(cluster.valkey.version), '8');
      assert.equal(await valueOf(cluster.valkey.nodeCount), 1);
      assert.equal(ofType('databaseCluster:DatabaseCluster').length, 1);
    });

    test('is handed on as redisUri: the private URI, and secret', async () => {
      assert.equal(await pulumi.isSecret(cluster.redisUri), true);
      assert.equal(await valueOf(cluster.redisUri), FAKE.valkeyPrivateUri);
      assert.notEqual(FAKE.valkeyPrivateUri, FAKE.valkeyPublicUri, 'the public URI would leave the VPC');
    });
  });

  describe('the workers', () => {
    test('are N droplets, numbered from 1, at the default size, with the API droplet’s image and SSH key, monitored', async () => {
      assert.equal(cluster.workers.length, 3);
      const apiKeys = await valueOf(oven.droplet.sshKeys);
      for (const [index, worker] of cluster.workers.entries()) {
        assert.equal(await valueOf(worker.name), `oven-test-worker-${index + 1}`);
        assert.equal(await valueOf(worker.size), 's-1vcpu-1gb');
        assert.equal(await valueOf(worker.image), await valueOf(oven.droplet.image));
        assert.deepEqual(await valueOf(worker.sshKeys), apiKeys);
        assert.equal(await valueOf(worker.monitoring), true);
      }
      assert.equal(ofType('droplet:Droplet').length, 4, 'the API droplet and three workers');
    });

    test('carry the worker tag, never the API droplet’s, so the web firewall and its 80/443 never apply to them', async () => {
      const workerTag = await valueOf(cluster.workerTag.name);
      assert.notEqual(workerTag, API_TAG);
      assert.deepEqual(await valueOf(cluster.workerFirewall.tags), [workerTag]);
      assert.ok(!((await valueOf(oven.firewall.tags)) ?? []).includes(workerTag), 'the API firewall is not applied to workers');
      for (const worker of cluster.workers) assert.deepEqual(await valueOf(worker.tags), [workerTag]);
      assert.ok(!((await valueOf(oven.droplet.tags)) ?? []).includes(workerTag), 'the API droplet does not get the workers’ firewall');
    });

    test('are never reachable on 80 or 443: no rule names those ports, and only the VPC reaches any port but 22', async () => {
      const inbound = (await valueOf(cluster.workerFirewall.inboundRules)) as Rule[];
      assert.ok(inbound.length > 0);
      for (const rule of inbound) {
        assert.ok(rule.portRange !== '80' && rule.portRange !== '443', `a rule for port ${rule.portRange}`);
        if (covers(rule, 80) || covers(rule, 443)) assert.deepEqual(rule.sourceAddresses, [FAKE.vpcIpRange], `${rule.protocol}/${rule.portRange}`);
      }
      const cloudflareSources = inbound.flatMap((rule) => rule.sourceAddresses ?? []).filter((source) => CLOUDFLARE.includes(source));
      assert.deepEqual(cloudflareSources, [], 'not even Cloudflare');
    });

    test('let SSH in only from oven:sshAllowedCidrs, and nothing else in from outside the VPC', async () => {
      const inbound = (await valueOf(cluster.workerFirewall.inboundRules)) as Rule[];
      const fromOutside = inbound.filter((rule) => !(rule.sourceAddresses ?? []).every((source) => source === FAKE.vpcIpRange));
      assert.deepEqual(fromOutside, [{ protocol: 'tcp', portRange: '22', sourceAddresses: SSH_CIDRS }]);
      for (const rule of inbound) assert.ok((rule.sourceAddresses ?? []).length > 0, 'every rule names its sources');
    });

    test('take all TCP, UDP and ICMP from the VPC, where the API droplet and the other workers are', async () => {
      const inbound = (await valueOf(cluster.workerFirewall.inboundRules)) as Rule[];
      const fromVpc = inbound.filter((rule) => rule.sourceAddresses?.includes(FAKE.vpcIpRange));
      assert.deepEqual(fromVpc.map((rule) => `${rule.protocol}/${rule.portRange ?? '-'}`).sort(), ['icmp/-', 'tcp/1-65535', 'udp/1-65535']);
    });

    test('go out like the API droplet, and to Valkey’s TLS port inside the VPC', async () => {
      const outbound = (await valueOf(cluster.workerFirewall.outboundRules)) as Rule[];
      assert.deepEqual(outbound, (await valueOf(oven.firewall.outboundRules)) as Rule[]);
      const toValkey = outbound.filter((rule) => rule.protocol === 'tcp' && covers(rule, VALKEY_PORT));
      assert.ok(toValkey.some((rule) => rule.destinationAddresses?.includes(FAKE.vpcIpRange)), `tcp/${VALKEY_PORT} to the VPC`);
      assert.equal(VALKEY_PORT, 25061);
    });
  });

  describe('the API droplet', () => {
    test('still lets 80 and 443 in only from Cloudflare, and SSH only from oven:sshAllowedCidrs', async () => {
      const inbound = (await valueOf(oven.firewall.inboundRules)) as Rule[];
      for (const port of [80, 443]) {
        const fromOutside = inbound.filter((rule) => covers(rule, port) && !rule.sourceAddresses?.every((s) => s === FAKE.vpcIpRange));
        assert.deepEqual(fromOutside.map((rule) => rule.sourceAddresses), [CLOUDFLARE], `port ${port}`);
      }
      const ssh = inbound.filter((rule) => covers(rule, 22) && !rule.sourceAddresses?.every((s) => s === FAKE.vpcIpRange));
      assert.deepEqual(ssh.map((rule) => rule.sourceAddresses), [SSH_CIDRS]);
    });

    test('now also admits the VPC (workers reach it) and may reach it (Valkey)', async () => {
      const inbound = (await valueOf(oven.firewall.inboundRules)) as Rule[];
      const fromVpc = inbound.filter((rule) => rule.sourceAddresses?.includes(FAKE.vpcIpRange));
      assert.deepEqual(fromVpc.map((rule) => `${rule.protocol}/${rule.portRange ?? '-'}`).sort(), ['icmp/-', 'tcp/1-65535', 'udp/1-65535']);
      for (const rule of fromVpc) assert.deepEqual(rule.sourceAddresses, [FAKE.vpcIpRange], 'VPC rules name the VPC alone');
      const outbound = (await valueOf(oven.firewall.outboundRules)) as Rule[];
      assert.ok(outbound.some((rule) => rule.protocol === 'tcp' && covers(rule, VALKEY_PORT) && rule.destinationAddresses?.includes(FAKE.vpcIpRange)));
    });

    test('keeps its name, tag, size, reserved IP and DNS record', async () => {
      assert.equal(await valueOf(oven.droplet.name), API_TAG);
      assert.deepEqual(await valueOf(oven.droplet.tags), [API_TAG]);
      assert.equal(await valueOf(oven.droplet.size), 's-1vcpu-1gb');
      assert.equal(await valueOf(oven.ip), FAKE.reservedIp);
      assert.equal(await valueOf(oven.dnsRecord.content), FAKE.reservedIp);
      assert.equal(await valueOf(oven.droplet.urn), 'urn:pulumi:test::oven::digitalocean:index/droplet:Droplet::oven');
    });
  });

  test('everything is in one VPC, in the stack’s region', async () => {
    assert.equal(ofType('vpc:Vpc').length, 1);
    assert.equal(await valueOf(cluster.vpc.region), 'sfo3');
    assert.equal(await valueOf(oven.droplet.vpcUuid), vpcId, 'the API droplet');
    for (const worker of cluster.workers) {
      assert.equal(await valueOf(worker.vpcUuid), vpcId, 'a worker');
      assert.equal(await valueOf(worker.region), 'sfo3');
    }
    assert.equal(await valueOf(cluster.valkey.privateNetworkUuid), vpcId, 'Valkey');
    assert.equal(await valueOf(cluster.valkey.region), 'sfo3');
    assert.equal(await valueOf(oven.droplet.region), 'sfo3');
  });

  test('hands Ansible the workers in group oven_workers, by public IPv4, after the unchanged oven group', async () => {
    const hosts = [1, 2, 3].map(
      (n) => `oven-test-worker-${n} ansible_host=${fakeWorkerIp(n)} ansible_user=root oven_domain=oven.aesthetic.computer`,
    );
    assert.equal(
      await valueOf(oven.ansibleInventory),
      `[oven]\noven.aesthetic.computer ansible_host=${FAKE.reservedIp} ansible_user=root oven_domain=oven.aesthetic.computer\n` +
        `\n[oven_workers]\n${hosts.join('\n')}\n`,
    );
    assert.deepEqual(await valueOf(cluster.workerIps), [1, 2, 3].map(fakeWorkerIp));
  });
});

describe('a pool with its own settings', () => {
  test('places the VPC, Valkey and workers in oven:region, at the sizes the stack sets', async () => {
    const { oven, cluster } = await build(
      minimalConfig({
        'oven:workers': '2',
        'oven:region': 'nyc3',
        'oven:workerSize': 'c-4',
        'oven:valkeySize': 'db-s-2vcpu-4gb',
        'oven:valkeyNodeCount': '2',
      }),
    );
    assert.equal(await valueOf(cluster.vpc.region), 'nyc3');
    assert.equal(await valueOf(cluster.valkey.region), 'nyc3');
    assert.equal(await valueOf(cluster.valkey.size), 'db-s-2vcpu-4gb');
    assert.equal(await valueOf(cluster.valkey.nodeCount), 2);
    assert.equal(await valueOf(oven.droplet.region), 'nyc3');
    assert.equal(cluster.workers.length, 2);
    for (const worker of cluster.workers) {
      assert.equal(await valueOf(worker.region), 'nyc3');
      assert.equal(await valueOf(worker.size), 'c-4');
    }
  });

  test('growing or shrinking the pool adds or removes the highest-numbered workers only', async () => {
    const namesFor = async (workers: string) => {
      await build(minimalConfig({ 'oven:workers': workers }));
      return ofType('droplet:Droplet').map((r) => r.name).sort();
    };
    assert.deepEqual(await namesFor('2'), ['oven', 'oven-worker-1', 'oven-worker-2']);
    assert.deepEqual(await namesFor('4'), ['oven', 'oven-worker-1', 'oven-worker-2', 'oven-worker-3', 'oven-worker-4']);
    assert.deepEqual(await namesFor('1'), ['oven', 'oven-worker-1']);
  });
});

test('a VPC range that is not a private /16 to /24 never becomes a firewall source', () => {
  for (const range of ['10.124.0.0/20', '172.16.0.0/16', '192.168.10.0/24']) assert.equal(checkVpcIpRange(range), range);
  for (const range of ['0.0.0.0/0', '8.8.8.0/24', '10.0.0.0/8', '172.32.0.0/16', '10.1.0.0/25', '', '10.1.0.0', '10.1.0.0/20/1', 'fd00::/48']) {
    assert.throws(() => checkVpcIpRange(range), /not a private \/16 to \/24; no firewall rule is made from it/, range);
  }
});
