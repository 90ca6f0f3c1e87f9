// Oven's worker pool, made only when oven:workers > 0: a VPC of its own in the region, the job queue
// in DigitalOcean Managed Valkey inside it, and N worker droplets that take jobs from the queue and
// bake them. The API droplet joins the same VPC (oven.ts); with oven:workers 0 none of this exists.

import * as digitalocean from '@pulumi/digitalocean';
import * as pulumi from '@pulumi/pulumi';
import type { OvenConfig } from './config.ts';
import { outboundRules, workerInboundRules } from './firewall.ts';

export interface Cluster {
  vpc: digitalocean.Vpc;
  valkey: digitalocean.DatabaseCluster;
  /** Valkey's trusted sources: the API droplet's tag and the workers' tag, nothing else. */
  valkeyFirewall: digitalocean.DatabaseFirewall;
  workerTag: digitalocean.Tag;
  workerFirewall: digitalocean.Firewall;
  workers: digitalocean.Droplet[];
  /** Valkey's private URI (`rediss://…:25061`, inside the VPC), secret: it holds the password. For `OVEN_REDIS_URL`. */
  redisUri: pulumi.Output<string>;
  /** The workers' public IPv4 addresses, in worker order, for SSH and Ansible. */
  workerIps: pulumi.Output<string[]>;
}

export interface ClusterParts {
  /** `oven-<stack>`: the API droplet's name and tag, the prefix of every name here. */
  name: string;
  /** The API droplet's tag: Valkey admits it. */
  apiTag: digitalocean.Tag;
  /** The stack's SSH key, the same for the workers as for the API droplet. */
  sshKey: digitalocean.SshKey;
}

/**
 * A queue under memory pressure must refuse new jobs rather than drop queued ones: with `noeviction`
 * a full Valkey answers writes with an error the API reports, where any other policy would delete
 * keys (jobs, their state) without a word.
 */
export const VALKEY_EVICTION_POLICY = 'noeviction';

export function createCluster(config: OvenConfig, { name, apiTag, sshKey }: ClusterParts): Cluster {
  // A VPC of Oven's own, so "from the VPC" in the firewalls means Oven's machines and nothing else
  // (the region's default VPC holds every other droplet of the account). DigitalOcean picks a free range.
  const vpc = new digitalocean.Vpc('oven', {
    name,
    region: config.region,
    description: `Oven's API droplet, workers and Valkey, managed by Pulumi stack ${pulumi.getStack()}`,
  });

  // Not `oven-<stack>-worker`: that is the API tag of a stack named `<stack>-worker`, whose droplet
  // would then pass Valkey's rule and get the workers' firewall. Stack names have no colons.
  const workerTag = new digitalocean.Tag('oven-worker', { name: `${name}:worker` });

  const valkey = new digitalocean.DatabaseCluster('oven-valkey', {
    name: `${name}-valkey`,
    engine: 'valkey',
    version: config.valkeyVersion,
    size: config.valkeySize,
    nodeCount: config.valkeyNodeCount,
    region: config.region,
    privateNetworkUuid: vpc.id,
    evictionPolicy: VALKEY_EVICTION_POLICY,
  });

  // Trusted sources by tag, like the droplet firewalls: a rebuilt or added droplet is admitted from
  // its first boot. No address rule, so neither the internet nor the rest of the account gets in.
  const valkeyFirewall = new digitalocean.DatabaseFirewall('oven-valkey', {
    clusterId: valkey.id,
    rules: [apiTag, workerTag].map((tag) => ({ type: 'tag', value: tag.name })),
  });

  const workerFirewall = new digitalocean.Firewall('oven-worker', {
    name: `${name}-worker`,
    tags: [workerTag.name],
    inboundRules: vpc.ipRange.apply((vpcIpRange) => workerInboundRules(config.sshAllowedCidrs, vpcIpRange)),
    outboundRules: vpc.ipRange.apply((vpcIpRange) => outboundRules(vpcIpRange)),
  });

  const workers = Array.from({ length: config.workers }, (_, index) => {
    const number = index + 1;
    return new digitalocean.Droplet(
      `oven-worker-${number}`,
      {
        name: `${name}-worker-${number}`,
        region: config.region,
        size: config.workerSize,
        image: config.image,
        sshKeys: [sshKey.fingerprint],
        tags: [workerTag.name],
        vpcUuid: vpc.id,
        monitoring: true,
        ipv6: true,
      },
      // As for the API droplet: a key rotation is the playbook's, and the firewall is there from boot.
      { ignoreChanges: ['sshKeys'], dependsOn: [workerFirewall] },
    );
  });

  return {
    vpc,
    valkey,
    valkeyFirewall,
    workerTag,
    workerFirewall,
    workers,
    // The provider marks the URI secret already; saying so here keeps it secret in the stack output
    // whatever the provider does.
    redisUri: pulumi.secret(valkey.privateUri),
    workerIps: pulumi.all(workers.map((worker) => worker.ipv4Address)),
  };
}
