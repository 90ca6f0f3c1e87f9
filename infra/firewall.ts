// What may reach the droplet and where it may go, as plain data, so the policy reads in one place.
// DigitalOcean's cloud firewall is stateful: answers to allowed connections need no rule of their own.

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

/**
 * Web traffic only from Cloudflare (the record is proxied, so visitors never connect directly),
 * SSH only from the operators' networks, and ICMP from anywhere (ping, and path-MTU messages).
 */
export function inboundRules(cloudflare: CloudflareRanges, sshAllowedCidrs: string[]): InboundRule[] {
  const cloudflareCidrs = [...cloudflare.ipv4Cidrs, ...cloudflare.ipv6Cidrs];
  if (cloudflare.ipv4Cidrs.length === 0) {
    // An empty list would leave the site unreachable; better to stop than to apply it.
    throw new RunError('Cloudflare returned no IPv4 ranges, so the firewall cannot let the proxy in; run `pulumi up` again later.');
  }
  return [
    { protocol: 'tcp', portRange: '80', sourceAddresses: cloudflareCidrs },
    { protocol: 'tcp', portRange: '443', sourceAddresses: cloudflareCidrs },
    { protocol: 'tcp', portRange: '22', sourceAddresses: [...sshAllowedCidrs] },
    { protocol: 'icmp', sourceAddresses: ANYWHERE },
  ];
}

/**
 * DNS, HTTP and HTTPS out: fetching tapes, uploading to Spaces, callbacks, apt, ACME and metrics.
 * NTP too: S3 request signatures and the callback's webhook-timestamp are refused by their
 * receivers when the clock drifts by minutes, so the droplet must keep its time in sync.
 */
export function outboundRules(): OutboundRule[] {
  return [
    { protocol: 'tcp', portRange: '53', destinationAddresses: ANYWHERE },
    { protocol: 'udp', portRange: '53', destinationAddresses: ANYWHERE },
    { protocol: 'tcp', portRange: '80', destinationAddresses: ANYWHERE },
    { protocol: 'tcp', portRange: '443', destinationAddresses: ANYWHERE },
    { protocol: 'udp', portRange: '123', destinationAddresses: ANYWHERE },
  ];
}
