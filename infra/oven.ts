// Oven's host as a function of its config: one droplet behind a reserved IP and a cloud firewall,
// a proxied Cloudflare record in front, and an uptime check on /health. With oven:workers > 0 the
// worker pool (cluster.ts) is added and this droplet joins its VPC; with 0, nothing else changes.

import * as cloudflare from '@pulumi/cloudflare';
import * as digitalocean from '@pulumi/digitalocean';
import * as pulumi from '@pulumi/pulumi';
import { createCluster } from './cluster.ts';
import type { Cluster } from './cluster.ts';
import type { OvenConfig } from './config.ts';
import { inboundRules, outboundRules } from './firewall.ts';
import { ansibleInventory } from './inventory.ts';
import type { InventoryHost } from './inventory.ts';

export interface Oven {
  droplet: digitalocean.Droplet;
  reservedIp: digitalocean.ReservedIp;
  firewall: digitalocean.Firewall;
  dnsRecord: cloudflare.DnsRecord;
  uptimeCheck: digitalocean.UptimeCheck;
  /** Empty when `alertEmail` is unset: alerts without a recipient would only add noise. */
  uptimeAlerts: digitalocean.UptimeAlert[];
  /** The reserved IP: the droplet's stable public address. */
  ip: pulumi.Output<string>;
  url: string;
  /** An INI inventory for `ansible-playbook -i`: group `oven`, and `oven_workers` when there are workers; reached as root. */
  ansibleInventory: pulumi.Output<string>;
  /** The VPC, Valkey and workers; undefined when `oven:workers` is 0. */
  cluster: Cluster | undefined;
}

export function createOven(config: OvenConfig): Oven {
  // One tag per stack, so a staging stack's firewall never applies to production's droplet.
  const name = `oven-${pulumi.getStack()}`;

  const tag = new digitalocean.Tag('oven', { name });
  const sshKey = new digitalocean.SshKey('oven', { name, publicKey: config.sshPublicKey });

  const cluster = config.workers > 0 ? createCluster(config, { name, apiTag: tag, sshKey }) : undefined;
  // Undefined without workers: the rules are then the single machine's, word for word.
  const vpcIpRange = pulumi.output(cluster?.vpc.ipRange);

  // The firewall follows the tag rather than the droplet's id, so a replacement droplet is
  // covered from its first boot instead of after Pulumi updates the firewall.
  const cloudflareRanges = cloudflare.getIpRangesOutput();
  const firewall = new digitalocean.Firewall('oven', {
    name,
    tags: [tag.name],
    inboundRules: pulumi
      .all([cloudflareRanges, vpcIpRange])
      .apply(([ranges, vpc]) => inboundRules(ranges, config.sshAllowedCidrs, vpc)),
    outboundRules: vpcIpRange.apply((vpc) => outboundRules(vpc)),
  });

  const droplet = new digitalocean.Droplet(
    'oven',
    {
      name,
      region: config.region,
      size: config.dropletSize,
      image: config.image,
      sshKeys: [sshKey.fingerprint],
      tags: [tag.name],
      // Only with workers: moving a droplet into a VPC rebuilds it, so a single machine stays put.
      vpcUuid: cluster?.vpc.id,
      monitoring: true,
      ipv6: true,
    },
    // Rotating the key is the playbook's job; it must not rebuild the host and lose its job state.
    { ignoreChanges: ['sshKeys'], dependsOn: [firewall] },
  );

  // A reserved IP outlives the droplet, so DNS and the inventory survive a rebuild.
  const reservedIp = new digitalocean.ReservedIp('oven', { region: config.region });
  const assignment = new digitalocean.ReservedIpAssignment(
    'oven',
    { ipAddress: reservedIp.ipAddress, dropletId: droplet.id.apply(Number) },
    // On a rebuild the old assignment must go first: deleting it afterwards would unassign
    // the IP from the new droplet.
    { deleteBeforeReplace: true },
  );

  const dnsRecord = new cloudflare.DnsRecord(
    'oven',
    {
      zoneId: config.cloudflareZoneId,
      name: config.domain,
      type: 'A',
      content: reservedIp.ipAddress,
      proxied: true,
      ttl: 1, // automatic; required to be 1 for proxied records
      comment: `Oven, managed by Pulumi stack ${pulumi.getStack()}`,
    },
    { dependsOn: [assignment] },
  );

  const url = `https://${config.domain}`;
  const uptimeCheck = new digitalocean.UptimeCheck(
    'oven-health',
    {
      name: `${name} /health`,
      type: 'https',
      target: `${url}/health`,
      regions: ['us_east', 'us_west', 'eu_west', 'se_asia'],
      enabled: true,
    },
    { dependsOn: [dnsRecord] },
  );

  const uptimeAlerts = config.alertEmail === undefined ? [] : createUptimeAlerts(name, uptimeCheck, config.alertEmail);

  const ip = reservedIp.ipAddress;
  const workerHosts = pulumi.all(
    (cluster?.workers ?? []).map((worker) =>
      pulumi.all([worker.name, worker.ipv4Address]).apply(([workerName, address]): InventoryHost => ({
        name: workerName,
        address,
        domain: config.domain,
      })),
    ),
  );
  return {
    droplet,
    reservedIp,
    firewall,
    dnsRecord,
    uptimeCheck,
    uptimeAlerts,
    ip,
    url,
    ansibleInventory: pulumi
      .all([ip, workerHosts])
      .apply(([address, workers]) => ansibleInventory([{ name: config.domain, address, domain: config.domain }], workers)),
    cluster,
  };
}

// Values are the DigitalOcean API's (snake_case), whatever the provider's docs show.
const ALERTS = [
  { key: 'down', type: 'down', comparison: 'greater_than', period: '2m' },
  { key: 'latency', type: 'latency', comparison: 'greater_than', threshold: 3000, period: '5m' }, // ms
  { key: 'ssl-expiry', type: 'ssl_expiry', comparison: 'less_than', threshold: 14, period: '2m' }, // days
] as const;

function createUptimeAlerts(name: string, check: digitalocean.UptimeCheck, email: string): digitalocean.UptimeAlert[] {
  return ALERTS.map(
    (alert) =>
      new digitalocean.UptimeAlert(`oven-${alert.key}`, {
        name: `${name} ${alert.key}`,
        checkId: check.id,
        type: alert.type,
        comparison: alert.comparison,
        threshold: 'threshold' in alert ? alert.threshold : undefined,
        period: alert.period,
        notifications: [{ emails: [email] }],
      }),
  );
}
