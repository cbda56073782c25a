// Child process for the leftover test: starts a 1-node cluster with the prefix given as argv[2],
// creates a pod, prints {"up":true,...} and waits to be killed (SIGKILL: no teardown runs).
import { startCluster } from '../lib/cluster.js';

const prefix = process.argv[2] ?? '';
const cluster = await startCluster({ nodes: 1, prefix });
const pod = await cluster.createPod({ namespace: 'x', name: 'a', node: 1, containerPorts: [{ containerPort: 80 }] });
process.stdout.write(`${JSON.stringify({ up: true, dir: cluster.dir, podNetns: pod.netns })}\n`);
setInterval(() => undefined, 60_000);
