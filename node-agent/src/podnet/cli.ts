// Small driver: runs podnet operations in the CURRENT netns and prints one JSON result per step.
// Used by the integration tests (started under `ip netns exec <node netns>`, like the agent in e2e)
// and handy for debugging on a node:
//   node --import tsx node-agent/src/podnet/cli.ts '[{"op":"listHostVeths","args":{}}]'
import { isPodNetError } from './errors.js';
import {
  checkPodInterface,
  createPodInterface,
  deletePodInterface,
  getInterfaceAddress,
  getInterfaceMtu,
  hostInterfaceExists,
  listHostVeths,
  type CheckPodInterfaceSpec,
  type DeletePodInterfaceSpec,
  type PodInterfaceSpec,
} from './podif.js';
import { threadNetnsInode } from './netns-switch.js';
import { podSideSetupCounts } from './podside.js';
import { closeRtnl } from './rtnl.js';

export type CliStep =
  | { op: 'create'; args: PodInterfaceSpec }
  | { op: 'delete'; args: DeletePodInterfaceSpec }
  | { op: 'check'; args: CheckPodInterfaceSpec }
  | { op: 'exists'; args: { name: string } }
  | { op: 'listHostVeths'; args: { prefix?: string } }
  | { op: 'mtu'; args: { name: string } }
  | { op: 'address'; args: { name: string } }
  /** Which path configured the pod ends so far: { inProcess, spawnFallback } */
  | { op: 'podSideCounts'; args: Record<string, never> }
  /** Inode of the main thread's current netns (compare with stat(netnsPath).ino) */
  | { op: 'threadNetnsInode'; args: Record<string, never> };

export type CliResult =
  | { ok: true; value: unknown; ms: number }
  | { ok: false; error: { code: string; message: string }; ms: number };

function run(step: CliStep): Promise<unknown> {
  switch (step.op) {
    case 'create': return createPodInterface(step.args);
    case 'delete': return deletePodInterface(step.args);
    case 'check': return checkPodInterface(step.args);
    case 'exists': return hostInterfaceExists(step.args.name);
    case 'listHostVeths': return listHostVeths(step.args.prefix);
    case 'mtu': return getInterfaceMtu(step.args.name);
    case 'address': return getInterfaceAddress(step.args.name);
    case 'podSideCounts': return Promise.resolve(podSideSetupCounts());
    case 'threadNetnsInode': return Promise.resolve(threadNetnsInode());
  }
}

export async function runSteps(steps: CliStep[]): Promise<CliResult[]> {
  const results: CliResult[] = [];
  for (const step of steps) {
    const t0 = performance.now();
    try {
      const value = await run(step);
      results.push({ ok: true, value: value ?? null, ms: performance.now() - t0 });
    } catch (err) {
      const code = isPodNetError(err) ? err.code : 'UNEXPECTED';
      results.push({ ok: false, error: { code, message: err instanceof Error ? err.message : String(err) }, ms: performance.now() - t0 });
    }
  }
  return results;
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (!raw) {
    console.error('usage: cli.ts \'[{"op":"create|delete|check|exists|listHostVeths|mtu|address|podSideCounts|threadNetnsInode","args":{...}}]\'');
    process.exit(2);
  }
  const steps = JSON.parse(raw) as CliStep[];
  if (!Array.isArray(steps)) throw new Error('argument must be a JSON array of steps');
  process.stdout.write(`${JSON.stringify(await runSteps(steps))}\n`);
  closeRtnl();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
