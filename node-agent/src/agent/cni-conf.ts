// The CNI network configuration the agent installs for the runtime once it is ready, and removes on
// uninstall. Written atomically (temp file + rename) so the runtime never reads half a file.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export function loomConflist(socketPath: string): object {
  // cniVersion 1.0.0 for runtimes whose libcni predates CNI 1.1 (containerd 1.6 rejects 1.1.0);
  // newer libcni picks the highest version listed in cniVersions.
  return {
    cniVersion: '1.0.0',
    cniVersions: ['1.0.0', '1.1.0'],
    name: 'loom',
    plugins: [
      { type: 'loom-cni', socketPath, capabilities: { bandwidth: true } },
      { type: 'portmap', snat: true, capabilities: { portMappings: true } },
    ],
  };
}

export async function installCniConf(path: string, socketPath: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(loomConflist(socketPath), null, 2)}\n`, { mode: 0o644 });
  await rename(tmp, path);
}

export async function removeCniConf(path: string): Promise<void> {
  await rm(path, { force: true });
}
