// What may reach the droplets and where they may go, as plain data, so the policy reads in one place.
// DigitalOcean's cloud firewall is stateful: answers to allowed connections need no rule of their own.
// With workers (oven:workers > 0) every Oven machine and the Valkey cluster share one VPC of their own:
// inside it they talk freely, and each rule that mentions the VPC names its range, never the internet.

import { BlockList, isIPv4 } from 'node:net';
import { RunError } from '@pulumi/pulumi';

export interface InboundRule {
  protocol: 'tcp' | 'udp' | 'icmp';
  portRange?: string;
  sourceAddresses: string[];
}

export interface OutboundRule {
  protocol: 'tcp' | 'udp' | 'icmp';
  portRange?: string;
  destinationAddresses: string[];
}

export interface CloudflareRanges {
  ipv4Cidrs: string[];
  ipv6Cidrs: string[];
}

const ANYWHERE = ['0.0.0.0/0', '::/0'];

/** DigitalOcean's Managed Valkey (and Redis) port; it speaks TLS only (`rediss://`). */
export const VALKEY_PORT = 25061;

const ALL_PORTS = '1-65535';

// The private ranges of RFC 1918, the only ones DigitalOcean gives a VPC.
const PRIVATE_IPV4 = new BlockList();
PRIVATE_IPV4.addSubnet('10.0.0.0', 8);
PRIVATE_IPV4.addSubnet('172.16.0.0', 12);
PRIVATE_IPV4.addSubnet('192.168.0.0', 16);

/**
 * The VPC's range, checked before it goes into rules that admit every port: DigitalOcean makes VPCs
 * of /16 to /24 inside RFC 1918, so anything else means "from the VPC" could become "from the internet".
 * A /16 or longer whose first address is private lies wholly inside one of the private blocks.
 */
export function checkVpcIpRange(cidr: string): string {
  const [address = '', prefixText = '', extra] = cidr.split('/');
  const prefix = /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (extra !== undefined || !isIPv4(address) || !(prefix >= 16 && prefix <= 24) || !PRIVATE_IPV4.check(address, 'ipv4')) {
    throw new RunError(`The VPC's IP range is "${cidr}", not a private /16 to /24; no firewall rule is made from it.`);
  }
  return cidr;
}

/** Every protocol from the VPC: workers reach the API droplet and each other privately. */
function fromVpc(vpcIpRange: string): InboundRule[] {
  const vpc = [checkVpcIpRange(vpcIpRange)];
  return [
    { protocol: 'tcp', portRange: ALL_PORTS, sourceAddresses: vpc },
    { protocol: 'udp', portRange: ALL_PORTS, sourceAddresses: vpc },
    { protocol: 'icmp', sourceAddresses: vpc },
  ];
}

/** Every protocol into the VPC: Valkey on 25061 is there, and so are the other Oven machines. */
function toVpc(vpcIpRange: string): OutboundRule[] {
  const vpc = [checkVpcIpRange(vpcIpRange)];
  return [
    { protocol: 'tcp', portRange: ALL_PORTS, destinationAddresses: vpc },
    { protocol: 'udp', portRange: ALL_PORTS, destinationAddresses: vpc },
    { protocol: 'icmp', destinationAddresses: vpc },
  ];
}

function sshFrom(sshAllowedCidrs: string[]): InboundRule {
  return { protocol: 'tcp', portRange: '22', sourceAddresses: [...sshAllowedCidrs] };
}

/**
 * The API droplet's: web traffic only from Cloudflare (the record is proxied, so visitors never connect
 * directly), SSH only from the operators' networks, and ICMP from anywhere (ping, and path-MTU messages).
 * With workers, also everything from the VPC (`vpcIpRange`); without, nothing more than that.
 */
export function inboundRules(cloudflare: CloudflareRanges, sshAllowedCidrs: string[], vpcIpRange?: string): InboundRule[] {
  const cloudflareCidrs = [...cloudflare.ipv4Cidrs, ...cloudflare.ipv6Cidrs];
  if (cloudflare.ipv4Cidrs.length === 0) {
    // An empty list would leave the site unreachable; better to stop than to apply it.
    throw new RunError('Cloudflare returned no IPv4 ranges, so the firewall cannot let the proxy in; run `pulumi up` again later.');
  }
  return [
    { protocol: 'tcp', portRange: '80', sourceAddresses: cloudflareCidrs },
    { protocol: 'tcp', portRange: '443', sourceAddresses: cloudflareCidrs },
    sshFrom(sshAllowedCidrs),
    { protocol: 'icmp', sourceAddresses: ANYWHERE },
    ...(vpcIpRange === undefined ? [] : fromVpc(vpcIpRange)),
  ];
}

/**
 * A worker's: SSH from the operators' networks and everything from the VPC, nothing else. Workers
 * serve no one on the internet (the API droplet takes the requests): no rule for 80 or 443, and from
 * outside the VPC nothing but 22 gets in.
 */
export function workerInboundRules(sshAllowedCidrs: string[], vpcIpRange: string): InboundRule[] {
  return [sshFrom(sshAllowedCidrs), ...fromVpc(vpcIpRange)];
}

/**
 * DNS, HTTP and HTTPS out: fetching tapes, uploading to Spaces, callbacks, apt, ACME and metrics.
 * NTP too: S3 request signatures and the callback's webhook-timestamp are refused by their
 * receivers when the clock drifts by minutes, so the droplet must keep its time in sync.
 * The same for the API droplet and the workers; with workers, also everything into the VPC.
 */
export function outboundRules(vpcIpRange?: string): OutboundRule[] {
  return [
    { protocol: 'tcp', portRange: '53', destinationAddresses: ANYWHERE },
    { protocol: 'udp', portRange: '53', destinationAddresses: ANYWHERE },
    { protocol: 'tcp', portRange: '80', destinationAddresses: ANYWHERE },
    { protocol: 'tcp', portRange: '443', destinationAddresses: ANYWHERE },
    { protocol: 'udp', portRange: '123', destinationAddresses: ANYWHERE },
    ...(vpcIpRange === undefined ? [] : toVpc(vpcIpRange)),
  ];
}
