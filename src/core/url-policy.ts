/**
 * Which URLs the recorder may open or call: `http:`/`https:` only; link-local and cloud metadata
 * addresses never; private and loopback ranges only when allowed. Checked on the resolved
 * addresses, so a name pointing inside the network is caught.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { WebRecordError } from './errors.js';

export interface UrlPolicyOptions {
  /** Allow private (RFC 1918, CGNAT, ULA) and loopback addresses. Default false. */
  allowPrivateNetworks?: boolean;
  /** Host names (exact, or `*.example.com`) always allowed, even when they resolve to private addresses. Link-local/metadata stay refused. */
  allowHosts?: string[];
  /** Host names (exact, or `*.example.com`) always refused. */
  denyHosts?: string[];
  /** Resolver (for tests); default `dns.lookup` with all addresses. */
  resolve?: (host: string) => Promise<string[]>;
}

export interface CheckedUrl {
  url: URL;
  /** Addresses the host resolved to, all allowed (a guard connects only to these). */
  addresses: string[];
}

export type AddressClass = 'public' | 'private' | 'forbidden';

const forbidden = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, incl. AWS/GCP/Azure/Tencent metadata
  ['100.100.100.200', 32], // Alibaba Cloud metadata
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) forbidden.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 96], // unspecified and IPv4-compatible (::a.b.c.d); ::1 is matched as loopback first
  ['fe80::', 10], // link-local
  ['fd00:ec2::254', 128], // AWS metadata over IPv6
  ['ff00::', 8], // multicast
] as const) forbidden.addSubnet(net, bits, 'ipv6');

const loopback6 = new BlockList();
loopback6.addAddress('::1', 'ipv6');

const privateNets = new BlockList();
for (const [net, bits] of [
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
] as const) privateNets.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::1', 128],
  ['fc00::', 7],
  ['64:ff9b::', 96],
  ['2001:db8::', 32],
] as const) privateNets.addSubnet(net, bits, 'ipv6');

/** Classifies one IP address. */
export function classifyAddress(address: string): AddressClass {
  const family = isIP(address);
  if (family === 0) return 'forbidden';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  // BlockList applies IPv4 rules to IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) itself.
  if (type === 'ipv6' && loopback6.check(address, type)) return 'private';
  if (forbidden.check(address, type)) return 'forbidden';
  if (privateNets.check(address, type)) return 'private';
  return 'public';
}

function hostMatches(host: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => {
    const pat = p.toLowerCase();
    return pat.startsWith('*.') ? host.endsWith(pat.slice(1)) || host === pat.slice(2) : host === pat;
  });
}

async function defaultResolve(host: string): Promise<string[]> {
  const all = await lookup(host, { all: true, verbatim: true });
  return all.map((a) => a.address);
}

export interface UrlPolicy {
  readonly allowPrivateNetworks: boolean;
  /** Checks `url` for `field` (named in the error). Rejects with `InvalidParam`. */
  check(url: string, field: string): Promise<CheckedUrl>;
  /** Synchronous verdict for one resolved address. */
  allowsAddress(address: string, host?: string): boolean;
}

export function createUrlPolicy(options: UrlPolicyOptions = {}): UrlPolicy {
  const allowPrivate = options.allowPrivateNetworks ?? false;
  const allowHosts = options.allowHosts ?? [];
  const denyHosts = options.denyHosts ?? [];
  const resolve = options.resolve ?? defaultResolve;

  const allowsAddress = (address: string, host?: string): boolean => {
    const cls = classifyAddress(address);
    if (cls === 'forbidden') return false;
    if (cls === 'public') return true;
    return allowPrivate || (host !== undefined && hostMatches(host, allowHosts));
  };

  return {
    allowPrivateNetworks: allowPrivate,
    allowsAddress,
    async check(raw, field) {
      const refuse = (why: string) => new WebRecordError('InvalidParam', `${field} is not allowed: ${why}`);
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new WebRecordError('InvalidParam', `${field} is not a valid URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse('only http and https URLs are recorded');
      const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
      if (hostMatches(host, denyHosts)) throw refuse(`host ${host} is denied by configuration`);
      let addresses: string[];
      if (isIP(host)) addresses = [host];
      else {
        try {
          addresses = await resolve(host);
        } catch (err) {
          throw new WebRecordError('InvalidParam', `${field} host ${host} does not resolve`, { cause: err });
        }
        if (addresses.length === 0) throw new WebRecordError('InvalidParam', `${field} host ${host} does not resolve`);
      }
      for (const address of addresses) {
        const cls = classifyAddress(address);
        if (cls === 'forbidden') throw refuse(`${host} resolves to a link-local, metadata or reserved address`);
        if (!allowsAddress(address, host)) {
          throw refuse(`${host} resolves to a private or loopback address (allow with allowPrivateNetworks / --allow-private-networks)`);
        }
      }
      return { url, addresses };
    },
  };
}
