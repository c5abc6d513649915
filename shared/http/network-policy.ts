/**
 * Which addresses outbound HTTP may reach (docs/architecture.md, "Templates and the hosts a flow
 * may call"). Unless a deployment allows private networks (local development does), a request may
 * only reach a globally reachable unicast address. Refused are:
 *
 * - every IPv4 block of the IANA "IPv4 Special-Purpose Address Registry" (RFC 6890) whose
 *   "Globally Reachable" attribute is False or N/A — loopback, RFC 1918 private use, shared
 *   (CGN) space, link-local 169.254.0.0/16 (home of the cloud metadata endpoints), the
 *   documentation and benchmarking blocks, "this network", limited broadcast — plus multicast
 *   (IANA "IPv4 Multicast Address Space Registry") and the reserved 240.0.0.0/4;
 * - every IPv6 block of the IANA "IPv6 Special-Purpose Address Registry" (RFC 6890) whose
 *   "Globally Reachable" attribute is False or N/A — loopback, unspecified, unique-local,
 *   link-local (the EC2 IPv6 metadata endpoint fd00:ec2::254 is unique-local), discard-only,
 *   documentation, benchmarking, Teredo, ORCHID, local-use NAT64, SRv6 SIDs, 6to4 — plus
 *   deprecated site-local fec0::/10 and multicast ff00::/8 (IANA "Internet Protocol Version 6
 *   Address Space" registry), and, as a catch-all, anything outside 2000::/3, the only block
 *   that registry allocates as Global Unicast (RFC 4291 §2.4);
 * - IPv6 addresses that embed an IPv4 address — IPv4-mapped ::ffff:0:0/96, IPv4-compatible
 *   ::/96, SIIT ::ffff:0:0:0/96 and the NAT64 well-known prefix 64:ff9b::/96 — whenever the
 *   embedded IPv4 address is refused: they are different spellings of the same destination
 *   (`http://[::ffff:127.0.0.1]/` reaches 127.0.0.1). A NAT64 address of a public IPv4 address
 *   is allowed.
 *
 * Host names are checked twice: at validation time for literal hosts, and at connect time
 * against every address DNS returns. Literal addresses skip DNS, so the literal check here has
 * to be complete on its own; it works on the parsed address bytes, never on the spelling, so
 * every form the WHATWG URL parser accepts (`0x7f.1`, `2130706433`, `[::ffff:7f00:1]`, ...)
 * gets the same answer.
 */
import { isIP } from 'node:net';

/** `[network, prefix length, registry entry]`. */
type Range = readonly [network: string, prefix: number, entry: string];

/**
 * IPv4 blocks refused: entries of the IANA "IPv4 Special-Purpose Address Registry" that are not
 * globally reachable, plus multicast and the reserved class E block.
 */
const IPV4_REFUSED: readonly Range[] = [
  ['0.0.0.0', 8, '"This network" — RFC 791 §3.2, RFC 1122 §3.2.1.3'],
  ['10.0.0.0', 8, 'Private-Use — RFC 1918'],
  ['100.64.0.0', 10, 'Shared Address Space (carrier-grade NAT) — RFC 6598'],
  ['127.0.0.0', 8, 'Loopback — RFC 1122 §3.2.1.3'],
  ['169.254.0.0', 16, 'Link Local (cloud metadata 169.254.169.254) — RFC 3927'],
  ['172.16.0.0', 12, 'Private-Use — RFC 1918'],
  // Refused whole: holds IPv4 Service Continuity Prefix 192.0.0.0/29 (RFC 7335), DS-Lite
  // 192.0.0.8/32 ... and the anycast PCP/TURN addresses 192.0.0.9-10, which no HTTP call needs.
  ['192.0.0.0', 24, 'IETF Protocol Assignments — RFC 6890 §2.1'],
  ['192.0.2.0', 24, 'Documentation (TEST-NET-1) — RFC 5737'],
  ['192.88.99.0', 24, 'Deprecated (6to4 Relay Anycast) — RFC 7526'],
  ['192.168.0.0', 16, 'Private-Use — RFC 1918'],
  ['198.18.0.0', 15, 'Benchmarking — RFC 2544'],
  ['198.51.100.0', 24, 'Documentation (TEST-NET-2) — RFC 5737'],
  ['203.0.113.0', 24, 'Documentation (TEST-NET-3) — RFC 5737'],
  ['224.0.0.0', 4, 'Multicast — IANA "IPv4 Multicast Address Space Registry", RFC 5771'],
  ['240.0.0.0', 4, 'Reserved — RFC 1112 §4 (includes Limited Broadcast 255.255.255.255/32, RFC 919 §7, RFC 8190)'],
];

/**
 * IPv6 blocks refused: entries of the IANA "IPv6 Special-Purpose Address Registry" that are not
 * globally reachable, plus site-local and multicast. The blocks that embed an IPv4 address
 * (::ffff:0:0/96, ::/96, ::ffff:0:0:0/96, 64:ff9b::/96) are judged by that address instead; see
 * {@link embeddedIPv4}.
 */
const IPV6_REFUSED: readonly Range[] = [
  ['::', 128, 'Unspecified Address — RFC 4291'],
  ['::1', 128, 'Loopback Address — RFC 4291'],
  ['64:ff9b:1::', 48, 'IPv4-IPv6 Translation, local-use NAT64 — RFC 8215'],
  ['100::', 64, 'Discard-Only Address Block — RFC 6666'],
  // Refused whole: holds TEREDO 2001::/32 (RFC 4380, RFC 8190), Benchmarking 2001:2::/48 (RFC 5180),
  // ORCHID 2001:10::/28 (RFC 4843), ORCHIDv2 2001:20::/28 (RFC 7343) and a few anycast addresses.
  ['2001::', 23, 'IETF Protocol Assignments — RFC 2928'],
  ['2001:db8::', 32, 'Documentation — RFC 3849'],
  // 6to4 embeds an IPv4 address in bits 16-47 and relays through 192.88.99.0/24 (deprecated
  // by RFC 7526); refused whole rather than judged by the embedded address.
  ['2002::', 16, '6to4 — RFC 3056'],
  ['3fff::', 20, 'Documentation — RFC 9637'],
  ['5f00::', 16, 'Segment Routing (SRv6) SIDs — RFC 9602'],
  ['fc00::', 7, 'Unique-Local (EC2 metadata fd00:ec2::254) — RFC 4193, RFC 8190'],
  ['fe80::', 10, 'Link-Local Unicast — RFC 4291'],
  ['fec0::', 10, 'Site-Local, deprecated — RFC 3879 (IANA "Internet Protocol Version 6 Address Space")'],
  ['ff00::', 8, 'Multicast — RFC 4291 §2.7 (IANA "IPv6 Multicast Address Space Registry")'],
];

/** Global Unicast 2000::/3 — IANA "Internet Protocol Version 6 Address Space", RFC 4291 §2.4. */
const IPV6_GLOBAL_UNICAST: Range = ['2000::', 3, 'Global Unicast — RFC 4291 §2.4'];

/** IPv4 dotted quad (strict decimal, as `node:net` `isIP` accepts it) to an unsigned 32-bit number. */
export function parseIPv4(text: string): number | undefined {
  if (isIP(text) !== 4) return undefined;
  const octets = text.split('.').map(Number);
  return ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
}

/**
 * IPv6 literal to its 16 bytes. Accepts `::` compression, a dotted IPv4 tail (`::ffff:1.2.3.4`),
 * a zone id (`fe80::1%eth0`, dropped) and surrounding brackets; undefined for anything else.
 */
export function parseIPv6(text: string): Uint8Array | undefined {
  let s = text;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone !== -1) {
    if (zone === s.length - 1) return undefined;
    s = s.slice(0, zone);
  }
  if (isIP(s) !== 6) return undefined;

  const words: number[] = [];
  const toWords = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const groups = part.split(':');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (/^[0-9a-f]{1,4}$/i.test(g)) {
        out.push(parseInt(g, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = toWords(halves[0]!);
  const tail = halves.length === 2 ? toWords(halves[1]!) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 2) {
    // A dotted IPv4 tail is only allowed at the very end.
    if (halves[0]!.includes('.')) return undefined;
    const gap = 8 - head.length - tail.length;
    if (gap < 1) return undefined;
    words.push(...head, ...new Array<number>(gap).fill(0), ...tail);
  } else {
    if (head.length !== 8) return undefined;
    words.push(...head);
  }
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >>> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

interface V4Net {
  base: number;
  mask: number;
}
interface V6Net {
  bytes: Uint8Array;
  prefix: number;
}

const v4Net = ([net, prefix]: Range): V4Net => {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (parseIPv4(net)! & mask) >>> 0, mask };
};
const v6Net = ([net, prefix]: Range): V6Net => ({ bytes: parseIPv6(net)!, prefix });

/** The refused ranges parsed, on the first check (not at cold start: most invocations make no outbound call). */
let nets: { v4: V4Net[]; v6: V6Net[]; globalUnicast: V6Net } | undefined;
const refusedNets = () => (nets ??= { v4: IPV4_REFUSED.map(v4Net), v6: IPV6_REFUSED.map(v6Net), globalUnicast: v6Net(IPV6_GLOBAL_UNICAST) });

function inV6(address: Uint8Array, { bytes, prefix }: V6Net): boolean {
  let bits = prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & mask) !== (bytes[i]! & mask)) return false;
  }
  return true;
}

function isRefusedIPv4(address: number): boolean {
  return refusedNets().v4.some(({ base, mask }) => (address & mask) >>> 0 === base);
}

/** True when bytes `from` (inclusive) to `to` (exclusive) are all `value`. */
function all(bytes: Uint8Array, from: number, to: number, value: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== value) return false;
  return true;
}

/**
 * The IPv4 address an IPv6 address stands for, when it is one of the forms that embed one in
 * its low 32 bits:
 * - ::ffff:0:0/96 IPv4-mapped (RFC 4291 §2.5.5.2; IANA "IPv6 Special-Purpose Address Registry");
 * - ::/96 IPv4-compatible (RFC 4291 §2.5.5.1, deprecated), except :: and ::1 themselves;
 * - ::ffff:0:0:0/96 IPv4-translated, SIIT (RFC 2765, RFC 7915);
 * - 64:ff9b::/96 NAT64 well-known prefix (RFC 6052; the registry marks it globally reachable,
 *   so only the embedded address decides).
 */
function embeddedIPv4(b: Uint8Array): number | undefined {
  const low32 = ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0;
  const mapped = all(b, 0, 10, 0) && b[10] === 0xff && b[11] === 0xff;
  const compatible = all(b, 0, 12, 0) && low32 > 1;
  const siit = all(b, 0, 8, 0) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0;
  const nat64 = b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && all(b, 4, 12, 0);
  return mapped || compatible || siit || nat64 ? low32 : undefined;
}

function isRefusedIPv6(bytes: Uint8Array): boolean {
  const v4 = embeddedIPv4(bytes);
  if (v4 !== undefined) return isRefusedIPv4(v4);
  const { v6, globalUnicast } = refusedNets();
  if (!inV6(bytes, globalUnicast)) return true;
  return v6.some((net) => inV6(bytes, net));
}

/**
 * True when an IP address (v4 or v6 in any literal form, bracketed or with a zone id) is not
 * globally reachable: loopback, private, link-local, shared, documentation, multicast, reserved,
 * or an IPv6 spelling of such an IPv4 address. False for anything that is not an IP literal.
 */
export function isPrivateAddress(address: string): boolean {
  const v4 = parseIPv4(address);
  if (v4 !== undefined) return isRefusedIPv4(v4);
  const v6 = parseIPv6(address);
  if (v6 !== undefined) return isRefusedIPv6(v6);
  return false;
}

/**
 * True when a URL host (name or literal address, as `URL.hostname` gives it) is private by
 * itself, without DNS: `localhost`, `*.localhost`, `*.internal`, or a refused literal address.
 */
export function isPrivateHost(hostname: string): boolean {
  let host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal')) return true;
  return isPrivateAddress(host);
}

/** True when `host` matches one of `patterns` (`api.example.com` or `*.example.com`). */
export function hostAllowed(host: string, patterns: readonly string[]): boolean {
  const h = host.toLowerCase();
  return patterns.some((p) => {
    const q = p.toLowerCase();
    return q.startsWith('*.') ? h.endsWith(q.slice(1)) && h.length > q.length - 1 : h === q;
  });
}
