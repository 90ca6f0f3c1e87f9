// Pulumi without an engine: resources and provider calls answered in memory, so the tests can read
// what the program would ask DigitalOcean and Cloudflare for.

import * as pulumi from '@pulumi/pulumi';

export const FAKE = {
  reservedIp: '203.0.113.10',
  dropletIp: '198.51.100.20',
  dropletId: '4242',
  cloudflareV4: ['173.245.48.0/20', '103.21.244.0/22'],
  cloudflareV6: ['2400:cb00::/32', '2606:4700::/32'],
  zoneId: '0123456789abcdef0123456789abcdef',
  sshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFake test@oven',
  /** The range DigitalOcean picks for a VPC created without one. */
  vpcIpRange: '10.124.0.0/20',
  valkeyPrivateUri: 'rediss://default:fake-valkey-password@private-oven-test-valkey-do-user-1-0.k.db.ondigitalocean.com:25061',
  valkeyPublicUri: 'rediss://default:fake-valkey-password@oven-test-valkey-do-user-1-0.k.db.ondigitalocean.com:25061',
} as const;

/** Worker N (from 1) gets droplet id 5000+N and public IPv4 198.51.100.(30+N). */
export function fakeWorkerIp(number: number): string {
  return `198.51.100.${30 + number}`;
}

export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/** Every resource the program registered, in order; cleared by the caller between cases. */
export const registered: Registered[] = [];

/** Sets the mocks; call before the program (or anything that creates resources) is imported. */
export async function useMocks(): Promise<void> {
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        const state: Record<string, unknown> = { ...args.inputs };
        let id = `${args.name}-id`;
        const worker = /^oven-worker-(\d+)$/.exec(args.name);
        if (args.type === 'digitalocean:index/droplet:Droplet' && worker) {
          id = String(5000 + Number(worker[1]));
          state['ipv4Address'] = fakeWorkerIp(Number(worker[1]));
        } else if (args.type === 'digitalocean:index/droplet:Droplet') {
          id = FAKE.dropletId;
          state['ipv4Address'] = FAKE.dropletIp;
        }
        if (args.type === 'digitalocean:index/vpc:Vpc') state['ipRange'] = args.inputs.ipRange ?? FAKE.vpcIpRange;
        if (args.type === 'digitalocean:index/databaseCluster:DatabaseCluster') {
          Object.assign(state, { port: 25061, privateUri: FAKE.valkeyPrivateUri, uri: FAKE.valkeyPublicUri });
        }
        if (args.type === 'digitalocean:index/reservedIp:ReservedIp') state['ipAddress'] = FAKE.reservedIp;
        if (args.type === 'digitalocean:index/sshKey:SshKey') state['fingerprint'] = '3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa';
        return { id, state };
      },
      call(args) {
        if (args.token === 'cloudflare:index/getIpRanges:getIpRanges') {
          return { etag: 'test', ipv4Cidrs: [...FAKE.cloudflareV4], ipv6Cidrs: [...FAKE.cloudflareV6], jdcloudCidrs: [] };
        }
        throw new Error(`The infra tests do not mock the call ${args.token}.`);
      },
    },
    'oven',
    'test',
    false,
  );
}

/** The config a careful operator sets: the required keys, nothing else. */
export function minimalConfig(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'oven:cloudflareZoneId': FAKE.zoneId,
    'oven:sshPublicKey': FAKE.sshPublicKey,
    'oven:sshAllowedCidrs': JSON.stringify(['192.0.2.0/24', '2001:db8::/48']),
    ...extra,
  };
}

/** The settled value of an Output. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}
