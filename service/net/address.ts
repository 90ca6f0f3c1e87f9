// Which IP addresses a job's URL may reach. Plain CIDR math on bytes, so every rule is visible here.
// A public address is one a stranger on the internet could also reach: anything loopback, private,
// link-local, shared, multicast, reserved or documentation-only is not.

import { isIP } from 'node:net';

type Bytes = number[];

/** a.b.c.d → 4 bytes, or undefined. `isIP` has checked the shape already. */
function v4Bytes(ip: string): Bytes | undefined {
  const parts = ip.split('.').map(Number);
  return parts.length === 4 && parts.every((n) => Number.isInteger(n) && n >= 0 && n <= 255) ? parts : undefined;
}

/** Any IPv6 spelling (`::`, embedded dotted quad, zone id) → 16 bytes, or undefined. */
function v6Bytes(ip: string): Bytes | undefined {
  let text = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const v4 = v4Bytes(tail[1]!);
    if (!v4) return undefined;
    text = text.slice(0, -tail[1]!.length) + `${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const bytes: Bytes = [];
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    const n = parseInt(g, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  return bytes;
}

/** Does `bytes` start with the first `bits` bits of `prefix`? */
function inRange(bytes: Bytes, prefix: Bytes, bits: number): boolean {
  for (let i = 0; i < bits; i += 8) {
    const take = Math.min(8, bits - i);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((bytes[i / 8] ?? 0) & mask) !== ((prefix[i / 8] ?? 0) & mask)) return false;
  }
  return true;
}

type Cidr = [prefix: Bytes, bits: number];

function cidr(text: string): Cidr {
  const [addr, bits] = text.split('/') as [string, string];
  const bytes = isIP(addr) === 4 ? v4Bytes(addr) : v6Bytes(addr);
  if (!bytes) throw new Error(`bad CIDR ${text}`);
  return [bytes, Number(bits)];
}

// IANA special-purpose IPv4 registry, minus nothing: none of these belong to a stranger's server.
const V4_NOT_PUBLIC = [
  '0.0.0.0/8', // "this network"
  '10.0.0.0/8', // private
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, incl. the cloud metadata service 169.254.169.254
  '172.16.0.0/12', // private
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // documentation
  '192.88.99.0/24', // 6to4 relay anycast
  '192.168.0.0/16', // private
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // documentation
  '203.0.113.0/24', // documentation
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, incl. broadcast 255.255.255.255
].map(cidr);

// IPv6: only global unicast (2000::/3) can be public, minus these special blocks.
const V6_GLOBAL = cidr('2000::/3');
const V6_NOT_PUBLIC = [
  '2001::/23', // IETF protocol assignments: Teredo, ORCHID, benchmarking…
  '2001:db8::/32', // documentation
  '3fff::/20', // documentation
].map(cidr);
// Blocks that carry an IPv4 address: judged by that address.
const V6_EMBEDDING_V4: { range: Cidr; offset: number }[] = [
  { range: cidr('::ffff:0:0/96'), offset: 12 }, // IPv4-mapped
  { range: cidr('64:ff9b::/96'), offset: 12 }, // NAT64
  { range: cidr('2002::/16'), offset: 2 }, // 6to4
];

function v4IsPublic(bytes: Bytes): boolean {
  return !V4_NOT_PUBLIC.some(([prefix, bits]) => inRange(bytes, prefix, bits));
}

/** True only for addresses a stranger on the internet could reach; false for anything unparsable. */
export function isPublicAddress(ip: string): boolean {
  const bare = ip.replace(/^\[|\]$/g, '');
  const family = isIP(bare.replace(/%.*$/, ''));
  if (family === 4) {
    const bytes = v4Bytes(bare);
    return bytes !== undefined && v4IsPublic(bytes);
  }
  if (family !== 6) return false;
  const bytes = v6Bytes(bare);
  if (!bytes) return false;
  for (const { range, offset } of V6_EMBEDDING_V4) {
    if (inRange(bytes, range[0], range[1])) return v4IsPublic(bytes.slice(offset, offset + 4));
  }
  if (!inRange(bytes, V6_GLOBAL[0], V6_GLOBAL[1])) return false;
  return !V6_NOT_PUBLIC.some(([prefix, bits]) => inRange(bytes, prefix, bits));
}
