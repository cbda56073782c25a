// Hand-built Ethernet frames (ARP, ICMP echo) sent from inside a pod with a raw AF_PACKET socket
// (python3 is the only raw-socket tool here), and a bounded tcpdump capture to see what arrives.
import { execa } from 'execa';
import { nsExec } from '../../support/netns.js';

export const macBytes = (mac: string): Buffer => Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
export const ipBytes = (ip: string): Buffer => Buffer.from(ip.split('.').map(Number));

/** The Internet checksum (RFC 1071) of `buf`. */
export function checksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i += 2) sum += (buf[i]! << 8) + (buf[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ethernet(dst: string, src: string, type: number, payload: Buffer): Buffer {
  const t = Buffer.alloc(2);
  t.writeUInt16BE(type);
  return Buffer.concat([macBytes(dst), macBytes(src), t, payload]);
}

export interface ArpFields {
  op: 1 | 2;
  ethSrc: string;
  ethDst: string;
  sha: string;
  spa: string;
  tha: string;
  tpa: string;
}

export function arpFrame(a: ArpFields): Buffer {
  const head = Buffer.from([0, 1, 8, 0, 6, 4, 0, a.op]);
  return ethernet(a.ethDst, a.ethSrc, 0x0806, Buffer.concat([head, macBytes(a.sha), ipBytes(a.spa), macBytes(a.tha), ipBytes(a.tpa)]));
}

export interface IcmpFields {
  ethSrc: string;
  ethDst: string;
  src: string;
  dst: string;
  id: number;
  seq: number;
  /** more-fragments flag and fragment offset (in 8-byte units) */
  fragment?: { moreFragments: boolean; offset: number };
}

export function icmpEchoFrame(f: IcmpFields): Buffer {
  const icmp = Buffer.alloc(8 + 32, 0x5a);
  icmp.writeUInt8(8, 0);
  icmp.writeUInt8(0, 1);
  icmp.writeUInt16BE(0, 2);
  icmp.writeUInt16BE(f.id, 4);
  icmp.writeUInt16BE(f.seq, 6);
  icmp.writeUInt16BE(checksum(icmp), 2);
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + icmp.length, 2);
  ip.writeUInt16BE(f.id, 4);
  const frag = f.fragment ? (f.fragment.moreFragments ? 0x2000 : 0) | f.fragment.offset : 0x4000; // DF when not fragmented
  ip.writeUInt16BE(frag, 6);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(1, 9);
  ipBytes(f.src).copy(ip, 12);
  ipBytes(f.dst).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  return ethernet(f.ethDst, f.ethSrc, 0x0800, Buffer.concat([ip, icmp]));
}

const SEND_SCRIPT = [
  'import socket, sys, time',
  's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
  's.bind((sys.argv[1], 0))',
  'for h in sys.argv[3:]:',
  '    for _ in range(int(sys.argv[2])):',
  '        s.send(bytes.fromhex(h))',
  '        time.sleep(0.02)',
].join('\n');

/** Send frames out of `dev` inside `netns`, each `repeat` times. */
export async function sendFrames(netns: string, dev: string, frames: Buffer[], repeat = 3): Promise<void> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(dev)) throw new Error(`invalid interface name ${dev}`);
  await nsExec(netns, 'python3', ['-c', SEND_SCRIPT, dev, String(repeat), ...frames.map((f) => f.toString('hex'))], { timeout: 20000 });
}

/**
 * Capture on `dev` in `netns` with a tcpdump filter while `during` runs (plus a short tail), and
 * return the packet lines tcpdump printed (-e: with MAC addresses).
 */
export async function capture(netns: string, dev: string, filter: string[], during: () => Promise<void>, tailMs = 700): Promise<string[]> {
  const proc = execa('ip', ['netns', 'exec', netns, 'tcpdump', '-i', dev, '-n', '-e', '-l', '-U', '-c', '500', ...filter], { reject: false, timeout: 60000 });
  // Wait until tcpdump is listening (it says so on stderr).
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump in ${netns} did not start`)), 20000);
    proc.stderr?.on('data', (d: Buffer) => {
      if (d.toString().includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void proc.then(() => {
      clearTimeout(timer);
      reject(new Error('tcpdump exited before listening'));
    });
  });
  try {
    await during();
    await new Promise((r) => setTimeout(r, tailMs));
  } finally {
    proc.kill('SIGINT');
  }
  const r = await proc;
  return String(r.stdout).split('\n').filter((l) => l.trim() !== '');
}
