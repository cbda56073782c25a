// Builds a minimal pod-sandbox ("pause") image as an OCI image-layout archive that
// `ctr images import` accepts, without registries or image tools: one layer holding Debian's
// statically linked busybox (package busybox-static), entrypoint `sleep inf`.
// The layout is written by hand (tar + sha256 + JSON) so the only tools needed are tar and busybox.
//
// CLI: tsx e2e/cri/pause-image.ts OUT.tar [--busybox /bin/busybox]
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The name containerd's CRI plugin is configured with (`sandbox_image`). */
export const PAUSE_IMAGE_REF = 'localhost/loom-pause:1';
export const DEFAULT_BUSYBOX = '/bin/busybox';

export interface PauseImage {
  /** OCI image-layout archive (tar) ready for `ctr images import`. */
  archive: string;
  ref: string;
  /** sha256:... of the image manifest. */
  manifestDigest: string;
}

interface Blob {
  digest: string;
  size: number;
}

const OCI_ARCH: Partial<Record<NodeJS.Architecture, string>> = { x64: 'amd64', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** True if `file` is an ELF executable without a program interpreter (statically linked). */
async function isStaticElf(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(64);
    await fh.read(head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return false; // ELF64 little-endian only
    const phoff = Number(head.readBigUInt64LE(0x20));
    const phentsize = head.readUInt16LE(0x36);
    const phnum = head.readUInt16LE(0x38);
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return false;
    return true;
  } finally {
    await fh.close();
  }
}

async function writeBlob(layoutDir: string, data: Buffer): Promise<Blob> {
  const hex = createHash('sha256').update(data).digest('hex');
  await writeFile(join(layoutDir, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** Deterministic tar of `dir` (sorted names, owner root, mtime 0). */
async function tarDir(dir: string, out: string): Promise<void> {
  await execa('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--format=posix', '--pax-option=delete=atime,delete=ctime', '-C', dir, '-cf', out, '.']);
}

/**
 * Writes the pause image archive to `out`. Fails with a clear message when busybox is missing or
 * not statically linked (install Debian's busybox-static).
 */
export async function buildPauseImage(out: string, opts: { busybox?: string; ref?: string } = {}): Promise<PauseImage> {
  const busybox = opts.busybox ?? DEFAULT_BUSYBOX;
  const ref = opts.ref ?? PAUSE_IMAGE_REF;
  const arch = OCI_ARCH[process.arch];
  if (!arch) throw new Error(`no OCI architecture name for ${process.arch}; extend OCI_ARCH in e2e/cri/pause-image.ts`);
  let isStatic: boolean;
  try {
    isStatic = await isStaticElf(busybox);
  } catch (e) {
    throw new Error(`cannot read ${busybox} (${(e as Error).message}): install Debian's busybox-static (apt-get install busybox-static)`);
  }
  if (!isStatic) throw new Error(`${busybox} is not a statically linked ELF64 executable: install busybox-static, not busybox`);

  const work = await mkdtemp(join(tmpdir(), 'loomt-pause-'));
  try {
    const rootfs = join(work, 'rootfs');
    const layout = join(work, 'layout');
    await mkdir(join(rootfs, 'bin'), { recursive: true });
    await copyFile(busybox, join(rootfs, 'bin', 'busybox'));
    for (const applet of ['sh', 'sleep']) await symlink('busybox', join(rootfs, 'bin', applet));
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });

    const layerTar = join(work, 'layer.tar');
    await tarDir(rootfs, layerTar);
    const layer = await writeBlob(layout, await readFile(layerTar));
    const config = await writeBlob(layout, Buffer.from(JSON.stringify({
      architecture: arch,
      os: 'linux',
      config: { Entrypoint: ['/bin/sleep', 'inf'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [layer.digest] }, // uncompressed layer: diff id = digest
      history: [{ created_by: 'loom e2e/cri/pause-image.ts (busybox-static)' }],
    })));
    const manifest = await writeBlob(layout, Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    })));
    const tag = ref.slice(ref.lastIndexOf(':') + 1);
    await writeFile(join(layout, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
        platform: { architecture: arch, os: 'linux' },
        annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': tag },
      }],
    }));
    await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await tarDir(layout, resolve(out));
    return { archive: resolve(out), ref, manifestDigest: manifest.digest };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const args = process.argv.slice(2);
  const out = args[0];
  const bbIdx = args.indexOf('--busybox');
  if (!out || out.startsWith('--')) {
    console.error('usage: tsx e2e/cri/pause-image.ts OUT.tar [--busybox /bin/busybox]');
    process.exit(2);
  }
  const bb = bbIdx >= 0 ? args[bbIdx + 1] : undefined;
  buildPauseImage(out, bb ? { busybox: bb } : {}).then(
    (img) => console.log(`${img.archive}: ${img.ref} (${img.manifestDigest})`),
    (e: Error) => { console.error(e.message); process.exit(1); },
  );
}
