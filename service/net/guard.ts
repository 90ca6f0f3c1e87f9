// The URL guard: a job's zipUrl and callbackUrl may only reach public addresses (unless the
// operator allows private networks), checked twice — when the job is posted (a clear 400), and
// again at every connect (redirects, DNS rebinding), because the first check alone can be outrun.

import dns from 'node:dns';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { OvenError } from '../errors.ts';
import { isPublicAddress } from './address.ts';

export { isPublicAddress } from './address.ts';

export interface UrlPolicy {
  /** Allow loopback, private, link-local and metadata addresses (tests and local use). */
  allowPrivateNetworks: boolean;
  /** When set, only these host names (lower case) are accepted. */
  allowedHosts?: string[];
}

/** Names of cloud metadata services; they resolve to link-local addresses, but say so plainly. */
const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata', 'instance-data', 'instance-data.ec2.internal']);

export type ResolveAll = (host: string) => Promise<string[]>;

const resolveWithSystem: ResolveAll = async (host) =>
  (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Host as compared: lower case, no brackets, no trailing dot. */
function plainHost(hostname: string): string {
  return hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
}

function hostAllowed(host: string, policy: UrlPolicy): boolean {
  return !policy.allowedHosts || policy.allowedHosts.some((h) => plainHost(h) === host);
}

function refused(sentence: string): OvenError {
  return new OvenError('URL_REFUSED', sentence);
}

/**
 * Parses and checks a job's URL when it is posted: http(s) only, no credentials, host in
 * allowedHosts when set, and (unless private networks are allowed) every address the host resolves
 * to is public. WHATWG URL parsing has already turned 2130706433 or 0x7f.1 into 127.0.0.1.
 */
export async function checkUrl(raw: string, policy: UrlPolicy, field: string, options: { resolve?: ResolveAll } = {}): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OvenError('BAD_URL', `${field} is not a valid URL.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OvenError('BAD_URL', `${field} must be an http or https URL, not ${url.protocol.replace(/:$/, '')}.`);
  }
  if (url.username || url.password) {
    throw new OvenError('BAD_URL', `${field} must not carry a user name or password.`);
  }
  const host = plainHost(url.hostname);
  if (!hostAllowed(host, policy)) {
    throw refused(`${field} is on ${host}, which is not in OVEN_ALLOWED_HOSTS.`);
  }
  if (policy.allowPrivateNetworks) return url;

  if (METADATA_NAMES.has(host)) throw refused(`${field} points at a cloud metadata service.`);
  if (isIP(host)) {
    if (!isPublicAddress(host)) throw refused(`${field} points at a private, loopback or link-local address (${host}).`);
    return url;
  }
  let addresses: string[];
  try {
    addresses = await (options.resolve ?? resolveWithSystem)(host);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new OvenError('URL_REFUSED', `${field}: the host ${host} could not be resolved${code ? ` (${code})` : ''}.`, { cause: err });
  }
  if (addresses.length === 0) throw refused(`${field}: the host ${host} has no addresses.`);
  const inside = addresses.find((a) => !isPublicAddress(a));
  if (inside) throw refused(`${field}: the host ${host} resolves to a private, loopback or link-local address (${inside}).`);
  return url;
}

/** The URL_REFUSED error inside whatever a fetch or request threw (fetch wraps it as a cause). */
export function findUrlRefusal(err: unknown): OvenError | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof OvenError && e.code === 'URL_REFUSED') return e;
  }
  return undefined;
}

type LookupCallback = Parameters<LookupFunction>[2];

/** dns.lookup that fails the connect when any answer is not public: the check happens on the very addresses used. */
function guardedLookup(isPublic: (ip: string) => boolean): LookupFunction {
  return (hostname, options, callback: LookupCallback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 4);
      const list = addresses as dns.LookupAddress[];
      const inside = list.find((a) => !isPublic(a.address));
      if (inside || list.length === 0) {
        const why = inside ? `resolves to a private, loopback or link-local address (${inside.address})` : 'has no addresses';
        return callback(refused(`The host ${hostname} ${why}; the oven does not connect there.`), '', 4);
      }
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

export interface GuardedDispatcherOptions {
  connectTimeoutMs?: number;
  /** Which addresses count as public. Defaults to isPublicAddress; a seam for tests on loopback. */
  isPublic?: (ip: string) => boolean;
}

/**
 * An undici Agent that checks every connection it opens — the first one, each redirect hop, each
 * retry — against the policy, using the address it actually connects to (no DNS rebinding gap).
 * A refusal fails the request with an OvenError URL_REFUSED (fetch puts it in `cause`; see findUrlRefusal).
 */
export function createGuardedDispatcher(policy: UrlPolicy, options: GuardedDispatcherOptions = {}): Agent {
  const isPublic = options.isPublic ?? isPublicAddress;
  const timeout = options.connectTimeoutMs ?? 10_000;
  if (policy.allowPrivateNetworks && !policy.allowedHosts) return new Agent({ connect: { timeout } });

  const connector = buildConnector({ timeout, ...(policy.allowPrivateNetworks ? {} : { lookup: guardedLookup(isPublic) }) });
  return new Agent({
    connect(opts, callback) {
      const host = plainHost(opts.hostname);
      if (!hostAllowed(host, policy)) {
        return callback(refused(`The host ${host} is not in OVEN_ALLOWED_HOSTS; the oven does not connect there.`), null);
      }
      // Literal addresses never reach the lookup, so they are checked here.
      if (!policy.allowPrivateNetworks && (METADATA_NAMES.has(host) || (isIP(host) && !isPublic(host)))) {
        return callback(refused(`The address ${host} is private, loopback or link-local; the oven does not connect there.`), null);
      }
      connector(opts, callback);
    },
  });
}
