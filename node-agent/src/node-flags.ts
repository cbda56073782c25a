// Node/V8 flags loom-agent is started with (scripts/image/loom-agent, the test and e2e harnesses).
// They must be given on the node command line: V8 sizes its heap when the process starts.
//
// --max-semi-space-size=2: the young generation may grow to 3 x 16 MB by default, which the agent
// fills during bursts of CNI requests and keeps. Capped at 2 MB, RSS with 200 pods measured
// 131 MB instead of 166-184 MB here, with no measurable change in ADD time (bench/cni-latency).
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
