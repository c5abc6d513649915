import { describe, expect, it } from 'vitest';
import { hostAllowed, isPrivateAddress, isPrivateHost, parseIPv4, parseIPv6 } from '#shared/http/network-policy';

/** What the engine sees: the hostname Node's WHATWG URL parser makes of what the user wrote. */
const refused = (url: string) => isPrivateHost(new URL(url).hostname);

/** Per range: a refused example (or several) and neighbouring public addresses that stay allowed. */
const ipv4Ranges: Array<[range: string, refused: string[], allowed: string[]]> = [
  ['0.0.0.0/8', ['http://0.0.0.0/', 'http://0.1.2.3/', 'http://0/'], ['http://1.0.0.1/']],
  ['10.0.0.0/8', ['http://10.0.0.1/', 'http://10.255.255.255/'], ['http://9.9.9.9/', 'http://11.0.0.1/']],
  ['100.64.0.0/10', ['http://100.64.0.1/', 'http://100.127.255.255/'], ['http://100.63.255.255/', 'http://100.128.0.1/']],
  ['127.0.0.0/8', ['http://127.0.0.1/', 'http://127.255.255.254/'], ['http://126.255.255.254/', 'http://128.0.0.1/']],
  ['169.254.0.0/16', ['http://169.254.169.254/', 'http://169.254.0.1/'], ['http://169.253.255.254/', 'http://169.255.0.1/']],
  ['172.16.0.0/12', ['http://172.16.0.1/', 'http://172.31.255.255/'], ['http://172.15.255.254/', 'http://172.32.0.1/']],
  ['192.0.0.0/24', ['http://192.0.0.8/', 'http://192.0.0.170/', 'http://192.0.0.1/'], ['http://192.0.1.1/']],
  ['192.0.2.0/24', ['http://192.0.2.1/'], ['http://192.0.3.1/']],
  ['192.88.99.0/24', ['http://192.88.99.1/'], ['http://192.88.98.1/', 'http://192.88.100.1/']],
  ['192.168.0.0/16', ['http://192.168.1.1/'], ['http://192.167.255.254/', 'http://192.169.0.1/']],
  ['198.18.0.0/15', ['http://198.18.0.1/', 'http://198.19.255.255/'], ['http://198.17.255.254/', 'http://198.20.0.1/']],
  ['198.51.100.0/24', ['http://198.51.100.7/'], ['http://198.51.101.1/']],
  ['203.0.113.0/24', ['http://203.0.113.9/'], ['http://203.0.112.1/']],
  ['224.0.0.0/4', ['http://224.0.0.1/', 'http://239.255.255.250/'], ['http://223.255.255.254/']],
  ['240.0.0.0/4', ['http://240.0.0.1/', 'http://255.255.255.255/'], ['http://223.255.255.254/']],
];

const ipv6Ranges: Array<[range: string, refused: string[], allowed: string[]]> = [
  ['::/128', ['http://[::]/', 'http://[0:0:0:0:0:0:0:0]/'], ['http://[2606:4700:4700::1111]/']],
  ['::1/128', ['http://[::1]/', 'http://[0:0:0:0:0:0:0:1]/'], ['http://[2606:4700:4700::1111]/']],
  ['64:ff9b:1::/48', ['http://[64:ff9b:1::808:808]/'], ['http://[64:ff9b::808:808]/']],
  ['100::/64', ['http://[100::1]/'], ['http://[2001:4860:4860::8888]/']],
  [
    '2001::/23 (Teredo, benchmarking, ORCHID)',
    ['http://[2001::1]/', 'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', 'http://[2001:2::1]/', 'http://[2001:10::1]/', 'http://[2001:20::1]/', 'http://[2001:1ff:ffff::1]/'],
    ['http://[2001:200::1]/', 'http://[2001:4860:4860::8888]/'],
  ],
  ['2001:db8::/32', ['http://[2001:db8::1]/', 'http://[2001:db8:ffff::1]/'], ['http://[2001:db7:ffff::1]/', 'http://[2001:db9::1]/']],
  ['2002::/16 (6to4, refused whole)', ['http://[2002:7f00:1::]/', 'http://[2002:a9fe:a9fe::1]/', 'http://[2002:808:808::1]/'], ['http://[2001:ffff:ffff::1]/', 'http://[2003::1]/']],
  ['3fff::/20', ['http://[3fff::1]/', 'http://[3fff:fff:ffff::1]/'], ['http://[3ffe::1]/', 'http://[3fff:1000::1]/']],
  ['5f00::/16', ['http://[5f00::1]/'], ['http://[2a00:1450::1]/']],
  ['fc00::/7', ['http://[fc00::1]/', 'http://[fd00:ec2::254]/', 'http://[fdff:ffff::1]/'], ['http://[2606:4700:4700::1111]/']],
  ['fe80::/10', ['http://[fe80::1]/', 'http://[febf:ffff::1]/'], ['http://[2606:4700:4700::1111]/']],
  ['fec0::/10', ['http://[fec0::1]/', 'http://[feff::1]/'], ['http://[2606:4700:4700::1111]/']],
  ['ff00::/8', ['http://[ff02::1]/', 'http://[ff0e::1]/'], ['http://[2606:4700:4700::1111]/']],
  ['outside 2000::/3 Global Unicast', ['http://[4000::1]/', 'http://[1fff:ffff::1]/', 'http://[::1:0:0:1]/', 'http://[100:0:0:1::1]/', 'http://[e000::1]/'], ['http://[2000::1]/', 'http://[3fff:ffff::1]/']],
];

describe('isPrivateHost: IPv4 special-purpose ranges', () => {
  it.each(ipv4Ranges)('%s', (_range, bad, good) => {
    for (const url of bad) expect(refused(url), url).toBe(true);
    for (const url of good) expect(refused(url), url).toBe(false);
  });

  it('public IPv4 addresses stay allowed', () => {
    for (const url of ['http://8.8.8.8/', 'http://1.1.1.1/', 'http://134744072/']) expect(refused(url), url).toBe(false);
  });
});

describe('isPrivateHost: IPv6 special-purpose ranges', () => {
  it.each(ipv6Ranges)('%s', (_range, bad, good) => {
    for (const url of bad) expect(refused(url), url).toBe(true);
    for (const url of good) expect(refused(url), url).toBe(false);
  });

  it('public IPv6 addresses stay allowed', () => {
    for (const url of ['http://[2606:4700:4700::1111]/', 'http://[2001:4860:4860::8888]/', 'http://[2400:cb00::1]/']) expect(refused(url), url).toBe(false);
  });
});

describe('isPrivateHost: IPv6 forms that embed an IPv4 address are judged by it', () => {
  it('IPv4-mapped ::ffff:0:0/96, which the URL parser rewrites to hex (::ffff:7f00:1)', () => {
    expect(new URL('http://[::ffff:127.0.0.1]/').hostname).toBe('[::ffff:7f00:1]');
    for (const url of ['http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/', 'http://[::ffff:169.254.169.254]/', 'http://[::ffff:10.0.0.1]/', 'http://[0:0:0:0:0:ffff:127.0.0.1]/', 'http://[::FFFF:C0A8:101]/']) {
      expect(refused(url), url).toBe(true);
    }
    expect(refused('http://[::ffff:8.8.8.8]/')).toBe(false);
  });

  it('IPv4-compatible ::/96 (deprecated)', () => {
    for (const url of ['http://[::7f00:1]/', 'http://[::127.0.0.1]/', 'http://[::a9fe:a9fe]/', 'http://[::10.0.0.1]/', 'http://[::0.0.0.2]/']) expect(refused(url), url).toBe(true);
    expect(refused('http://[::808:808]/')).toBe(false);
  });

  it('SIIT IPv4-translated ::ffff:0:0:0/96', () => {
    for (const url of ['http://[::ffff:0:a00:1]/', 'http://[::ffff:0:127.0.0.1]/', 'http://[::ffff:0:a9fe:a9fe]/']) expect(refused(url), url).toBe(true);
    expect(refused('http://[::ffff:0:808:808]/')).toBe(false);
  });

  it('NAT64 well-known prefix 64:ff9b::/96: refused only with a refused IPv4 inside', () => {
    for (const url of ['http://[64:ff9b::a9fe:a9fe]/', 'http://[64:ff9b::169.254.169.254]/', 'http://[64:ff9b::7f00:1]/', 'http://[64:ff9b::10.1.2.3]/', 'http://[64:ff9b::c000:208]/']) {
      expect(refused(url), url).toBe(true);
    }
    for (const url of ['http://[64:ff9b::808:808]/', 'http://[64:ff9b::8.8.8.8]/', 'http://[64:ff9b::101:101]/']) expect(refused(url), url).toBe(false);
  });
});

describe('isPrivateHost: every way of writing a refused host', () => {
  it('IPv4 in hex, octal, short and integer forms (canonicalised by the URL parser)', () => {
    for (const url of ['http://0x7f.1/', 'http://2130706433/', 'http://127.1/', 'http://0177.0.0.1/', 'http://0x7f000001/', 'http://0xa9fea9fe/', 'http://2852039166/', 'http://0251.0376.0251.0376/']) {
      expect(refused(url), url).toBe(true);
    }
  });

  it('link-local with a zone id', () => {
    let hostname: string | undefined;
    try {
      hostname = new URL('http://[fe80::1%25eth0]/').hostname;
    } catch {
      hostname = undefined; // Node's URL parser refuses zone ids: nothing can reach the client.
    }
    if (hostname !== undefined) expect(isPrivateHost(hostname)).toBe(true);
    expect(isPrivateHost('[fe80::1%eth0]')).toBe(true);
    expect(isPrivateAddress('fe80::1%eth0')).toBe(true);
  });

  it('names: localhost, *.localhost, *.internal, with a trailing dot and in any case', () => {
    for (const url of ['http://localhost/', 'http://localhost./', 'http://LOCALHOST/', 'http://app.localhost/', 'http://app.localhost./', 'http://metadata.google.internal/', 'http://metadata.google.internal./']) {
      expect(refused(url), url).toBe(true);
    }
    for (const url of ['http://api.example.com/', 'http://api.example.com./', 'http://localhost.example.com/', 'http://internal.example.com/', 'http://example.internal.com/']) {
      expect(refused(url), url).toBe(false);
    }
  });

  it('metadata endpoints (AWS, GCP, Azure) in IPv4 and IPv6', () => {
    for (const url of ['http://169.254.169.254/', 'http://[fd00:ec2::254]/', 'http://[::ffff:a9fe:a9fe]/', 'http://[64:ff9b::a9fe:a9fe]/', 'http://169.254.170.2/']) {
      expect(refused(url), url).toBe(true);
    }
  });
});

describe('isPrivateAddress (addresses as DNS returns them)', () => {
  it('judges v4, v6 and dotted v4-mapped forms', () => {
    expect(isPrivateAddress('127.0.0.1')).toBe(true);
    expect(isPrivateAddress('::ffff:127.0.0.1')).toBe(true);
    expect(isPrivateAddress('::ffff:7f00:1')).toBe(true);
    expect(isPrivateAddress('fd00:ec2::254')).toBe(true);
    expect(isPrivateAddress('93.184.215.14')).toBe(false);
    expect(isPrivateAddress('2606:4700:4700::1111')).toBe(false);
  });

  it('is false for what is not an IP literal', () => {
    for (const text of ['', 'example.com', 'localhost', '127.1', '0x7f.0.0.1', '1::2::3']) expect(isPrivateAddress(text), text).toBe(false);
  });
});

describe('parseIPv4 / parseIPv6', () => {
  const hex = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('hex') : undefined);

  it('parses IPv4 to an unsigned 32-bit number', () => {
    expect(parseIPv4('127.0.0.1')).toBe(0x7f000001);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIPv4('0.0.0.0')).toBe(0);
    for (const text of ['127.1', '0177.0.0.1', '256.0.0.1', '1.2.3', '::1', '']) expect(parseIPv4(text), text).toBeUndefined();
  });

  it('parses IPv6 to 16 bytes: compression, dotted tail, zone id, brackets', () => {
    expect(hex(parseIPv6('::'))).toBe('00000000000000000000000000000000');
    expect(hex(parseIPv6('::1'))).toBe('00000000000000000000000000000001');
    expect(hex(parseIPv6('[::ffff:127.0.0.1]'))).toBe('00000000000000000000ffff7f000001');
    expect(hex(parseIPv6('::ffff:7f00:1'))).toBe('00000000000000000000ffff7f000001');
    expect(hex(parseIPv6('fe80::1%eth0'))).toBe('fe800000000000000000000000000001');
    expect(hex(parseIPv6('2001:DB8:0:0:1:0:0:1'))).toBe('20010db8000000000001000000000001');
    expect(hex(parseIPv6('1:2:3:4:5:6:7::'))).toBe('00010002000300040005000600070000');
    expect(hex(parseIPv6('64:ff9b::192.0.2.33'))).toBe('0064ff9b0000000000000000c0000221');
  });

  it('returns undefined for anything that is not an IPv6 literal', () => {
    for (const text of ['', '1.2.3.4', 'example.com', '1::2::3', '12345::', ':::', 'g::1', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '::ffff:1.2.3', '1.2.3.4::', '[::1', '::1%', '::ffff:127.0.0.01']) {
      expect(parseIPv6(text), text).toBeUndefined();
    }
  });
});

describe('hostAllowed', () => {
  it('matches exact names case-insensitively', () => {
    expect(hostAllowed('api.example.com', ['api.example.com'])).toBe(true);
    expect(hostAllowed('API.Example.com', ['api.EXAMPLE.com'])).toBe(true);
    expect(hostAllowed('v2.api.example.com', ['api.example.com'])).toBe(false);
    expect(hostAllowed('api.example.com', [])).toBe(false);
  });

  it('*.example.com matches sub-domains only', () => {
    const patterns = ['*.example.com'];
    expect(hostAllowed('api.example.com', patterns)).toBe(true);
    expect(hostAllowed('a.b.example.com', patterns)).toBe(true);
    expect(hostAllowed('example.com', patterns)).toBe(false);
    expect(hostAllowed('evil-example.com', patterns)).toBe(false);
    expect(hostAllowed('example.com.evil.net', patterns)).toBe(false);
    expect(hostAllowed('.example.com', patterns)).toBe(false);
  });
});
