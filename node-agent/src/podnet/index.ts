// Pod interface plumbing: the only entry point other modules import.
export { PodNetError, isPodNetError, type PodNetErrorCode } from './errors.js';
export { hostVethName, HOST_VETH_PREFIX } from './naming.js';
export {
  createPodInterface,
  deletePodInterface,
  checkPodInterface,
  hostInterfaceExists,
  listHostVeths,
  getInterfaceMtu,
  getInterfaceAddress,
  randomMac,
  type PodInterfaceSpec,
  type PodInterfaceResult,
  type DeletePodInterfaceSpec,
  type CheckPodInterfaceSpec,
} from './podif.js';
export { closeRtnl } from './rtnl.js';
export { podSideSetupCounts, preparePodSide } from './podside.js';
export { MTU_MIN, MTU_MAX } from './validate.js';
