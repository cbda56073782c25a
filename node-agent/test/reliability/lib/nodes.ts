// Starting agents on a loaded, shared machine: the harness waits 20 s for readiness, which a 2-core VM
// running several suites sometimes exceeds. These helpers give the agent more time instead of failing.
import { startAgentNode, type AgentNode, type AgentNodeOptions } from '../../support/agent-node.js';

const SLOW_READY_MS = 120000;

export async function startNode(o: AgentNodeOptions, attempts = 3): Promise<AgentNode> {
  for (let i = 1; ; i++) {
    try {
      return await startAgentNode(o);
    } catch (e) {
      if (i >= attempts || !/did not become ready/.test((e as Error).message)) throw e;
      console.warn(`      (agent in ${o.name} slow to start on a loaded machine; attempt ${i + 1} of ${attempts})`);
    }
  }
}

/** Start the agent and wait until it is ready, allowing up to two minutes on a loaded machine. */
export async function startAgentPatiently(node: AgentNode): Promise<void> {
  try {
    await node.startAgent();
  } catch (e) {
    if (!/did not become ready/.test((e as Error).message)) throw e;
    await node.waitReady(SLOW_READY_MS);
  }
}
