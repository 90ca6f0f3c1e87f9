// The stack's settings, read and checked once. A bad or missing value stops `pulumi up`
// before anything is created, with a sentence that names the key and shows a fix.

import { isIPv4, isIPv6 } from 'node:net';
import * as pulumi from '@pulumi/pulumi';

export interface OvenConfig {
  /** `oven:domain`, default `oven.aesthetic.computer`: the public name, an A record in the Cloudflare zone. */
  domain: string;
  /** `oven:cloudflareZoneId` (required): the zone that holds `domain` (Cloudflare → the zone → Overview → Zone ID). */
  cloudflareZoneId: string;
  /** `oven:sshPublicKey` (required): an OpenSSH public key, installed for root on the new droplet. */
  sshPublicKey: string;
  /** `oven:sshAllowedCidrs` (required, JSON list): who may reach port 22; never the whole internet. */
  sshAllowedCidrs: string[];
  /** `oven:region`, default `sfo3`: the DigitalOcean region, next to the Spaces the oven reads and writes. */
  region: string;
  /** `oven:dropletSize`, default `s-1vcpu-1gb`: the droplet size slug. */
  dropletSize: string;
  /** `oven:image`, default `ubuntu-24-04-x64`: the image slug the Ansible playbook expects. */
  image: string;
  /** `oven:alertEmail` (optional): who gets uptime alerts; without it no alerts are made. */
  alertEmail: string | undefined;
  /**
   * `oven:workers`, default 0: how many worker droplets bake next to the API droplet. 0 is the
   * single machine (no VPC, no Valkey, no workers); above 0 the jobs queue in Managed Valkey.
   */
  workers: number;
  /** `oven:workerSize`, default `s-1vcpu-1gb`: the worker droplets' size slug. */
  workerSize: string;
  /** `oven:valkeySize`, default `db-s-1vcpu-1gb`: the Managed Valkey node size slug (only with workers). */
  valkeySize: string;
  /** `oven:valkeyVersion`, default `8`: the Valkey major version (only with workers). */
  valkeyVersion: string;
  /** `oven:valkeyNodeCount`, default 1: Valkey nodes, 1 to 3; more than 1 adds standbys that take over on failure. */
  valkeyNodeCount: number;
}

export const DEFAULTS = {
  domain: 'oven.aesthetic.computer',
  region: 'sfo3',
  dropletSize: 's-1vcpu-1gb',
  image: 'ubuntu-24-04-x64',
  workers: 0,
  workerSize: 's-1vcpu-1gb',
  valkeySize: 'db-s-1vcpu-1gb',
  valkeyVersion: '8',
  valkeyNodeCount: 1,
} as const;

/** A ceiling, so a slip such as `oven:workers 200` is refused instead of billed. */
export const MAX_WORKERS = 20;
/** DigitalOcean's Managed Valkey runs one primary and up to two standby nodes. */
export const MAX_VALKEY_NODES = 3;

type SlugKey = 'region' | 'dropletSize' | 'image' | 'workerSize' | 'valkeySize';

// Prefixes shorter than these cover a large share of the internet: refused like 0.0.0.0/0,
// so the world cannot be let in by splitting it (0.0.0.0/1 + 128.0.0.0/1).
const MIN_PREFIX = { 4: 8, 6: 16 } as const;

const CIDRS_EXAMPLE = `pulumi config set oven:sshAllowedCidrs '["203.0.113.7/32"]'`;

function fail(sentence: string): never {
  // RunError: the Pulumi CLI prints the sentence alone, without a stack trace.
  throw new pulumi.RunError(sentence);
}

/** Reads every `oven:*` setting of the current stack; throws a RunError naming the first bad key. */
export function readOvenConfig(config: pulumi.Config = new pulumi.Config('oven')): OvenConfig {
  const text = (key: string): string | undefined => {
    const value = config.get(key)?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const required = (key: string, example: string): string =>
    text(key) ?? fail(`oven:${key} is required; set it with: ${example}`);

  const domain = parseDomain(text('domain') ?? DEFAULTS.domain);
  const cloudflareZoneId = parseZoneId(
    required('cloudflareZoneId', 'pulumi config set oven:cloudflareZoneId <the zone ID from the Cloudflare dashboard>'),
  );
  const sshPublicKey = parseSshPublicKey(
    required('sshPublicKey', 'pulumi config set oven:sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)"'),
  );
  const sshAllowedCidrs = parseSshAllowedCidrs(required('sshAllowedCidrs', CIDRS_EXAMPLE));
  const region = parseSlug('region', text('region') ?? DEFAULTS.region);
  const dropletSize = parseSlug('dropletSize', text('dropletSize') ?? DEFAULTS.dropletSize);
  const image = parseSlug('image', text('image') ?? DEFAULTS.image);
  const alertEmail = parseEmail(text('alertEmail'));
  const workers = parseCount('workers', text('workers'), { min: 0, max: MAX_WORKERS, counts: 'worker droplets; 0 keeps the single machine' });
  const workerSize = parseSlug('workerSize', text('workerSize') ?? DEFAULTS.workerSize);
  const valkeySize = parseSlug('valkeySize', text('valkeySize') ?? DEFAULTS.valkeySize);
  const valkeyVersion = parseVersion(text('valkeyVersion') ?? DEFAULTS.valkeyVersion);
  const valkeyNodeCount = parseCount('valkeyNodeCount', text('valkeyNodeCount'), { min: 1, max: MAX_VALKEY_NODES, counts: 'Valkey nodes' });
  return {
    domain,
    cloudflareZoneId,
    sshPublicKey,
    sshAllowedCidrs,
    region,
    dropletSize,
    image,
    alertEmail,
    workers,
    workerSize,
    valkeySize,
    valkeyVersion,
    valkeyNodeCount,
  };
}

export function parseDomain(raw: string): string {
  const domain = raw.toLowerCase().replace(/\.$/, '');
  const label = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
  if (!new RegExp(`^(?:${label}\\.)+[a-z]{2,63}$`).test(domain)) {
    fail(`oven:domain must be a host name such as oven.aesthetic.computer, got "${raw}".`);
  }
  return domain;
}

export function parseZoneId(raw: string): string {
  if (!/^[0-9a-f]{32}$/.test(raw)) {
    fail(`oven:cloudflareZoneId must be the 32-character hex Zone ID from the zone's Overview page, got "${raw}".`);
  }
  return raw;
}

export function parseSshPublicKey(raw: string): string {
  if (raw.includes('PRIVATE KEY')) {
    fail('oven:sshPublicKey holds a private key; set the public one instead (the .pub file), and keep the private key off the stack.');
  }
  if (!/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+=*( .*)?$/.test(raw)) {
    fail('oven:sshPublicKey must be one OpenSSH public key line, such as the content of ~/.ssh/id_ed25519.pub.');
  }
  return raw;
}

/** A JSON list of addresses or CIDRs; a bare address becomes /32 or /128. Refuses the world and near-world. */
export function parseSshAllowedCidrs(raw: string): string[] {
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    fail(`oven:sshAllowedCidrs must be a JSON list of CIDRs, e.g. ${CIDRS_EXAMPLE}`);
  }
  if (!Array.isArray(list) || list.length === 0 || !list.every((item) => typeof item === 'string')) {
    fail(`oven:sshAllowedCidrs must be a non-empty JSON list of CIDR strings, e.g. ${CIDRS_EXAMPLE}`);
  }
  return [...new Set(list.map((item) => parseCidr(item.trim())))];
}

function parseCidr(cidr: string): string {
  const [address = '', prefixText, extra] = cidr.split('/');
  const version = isIPv4(address) ? 4 : isIPv6(address) ? 6 : undefined;
  if (version === undefined || extra !== undefined || (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText))) {
    fail(`oven:sshAllowedCidrs has "${cidr}", which is not an IPv4 or IPv6 address or CIDR such as 203.0.113.7/32.`);
  }
  const maxPrefix = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
  if (prefix > maxPrefix) {
    fail(`oven:sshAllowedCidrs has "${cidr}": an IPv${version} prefix is at most /${maxPrefix}.`);
  }
  if (prefix === 0) {
    fail(`oven:sshAllowedCidrs has "${cidr}", which opens SSH to the whole internet; list your own addresses instead, e.g. ${CIDRS_EXAMPLE}`);
  }
  if (prefix < MIN_PREFIX[version]) {
    fail(`oven:sshAllowedCidrs has "${cidr}", which covers too much of the internet; use IPv${version} prefixes of /${MIN_PREFIX[version]} or longer.`);
  }
  return `${address}/${prefix}`;
}

function parseSlug(key: SlugKey, raw: string): string {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(raw)) fail(`oven:${key} must be a DigitalOcean slug such as "${DEFAULTS[key]}", got "${raw}".`);
  return raw;
}

interface CountBounds {
  min: number;
  max: number;
  /** What the number counts, for the refusal's sentence. */
  counts: string;
}

/** A whole number within bounds; unset gives the default. Digits only: "2.5", "1e1", "-1" and "two" are refused. */
function parseCount(key: 'workers' | 'valkeyNodeCount', raw: string | undefined, { min, max, counts }: CountBounds): number {
  if (raw === undefined) return DEFAULTS[key];
  const count = /^\d{1,3}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(count >= min && count <= max)) {
    fail(`oven:${key} must be a whole number from ${min} to ${max} (${counts}), got "${raw}".`);
  }
  return count;
}

function parseVersion(raw: string): string {
  if (!/^\d{1,2}(\.\d{1,2})?$/.test(raw)) {
    fail(`oven:valkeyVersion must be a Valkey version such as "${DEFAULTS.valkeyVersion}", got "${raw}".`);
  }
  return raw;
}

function parseEmail(raw: string | undefined): string | undefined {
  if (raw !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(raw)) {
    fail(`oven:alertEmail must be one email address, got "${raw}".`);
  }
  return raw;
}
