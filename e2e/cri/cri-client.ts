// A minimal CRI v1 RuntimeService client (the pod-sandbox calls kubelet makes) over a unix socket,
// built from the hand-written subset in api.proto with @grpc/grpc-js + @grpc/proto-loader.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';

export const CRI_PROTO = join(import.meta.dirname, 'api.proto');

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  targetId?: string;
}

export interface PortMapping {
  protocol?: Protocol;
  containerPort: number;
  hostPort?: number;
  hostIp?: string;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: { servers?: string[]; searches?: string[]; options?: string[] };
  portMappings?: PortMapping[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    cgroupParent?: string;
    securityContext?: { namespaceOptions?: NamespaceOption; privileged?: boolean; readonlyRootfs?: boolean };
    sysctls?: Record<string, string>;
  };
}

export interface VersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata | null;
  state: PodSandboxState;
  /** nanoseconds since the epoch, as a decimal string (int64) */
  createdAt: string;
  network: { ip: string; additionalIps: Array<{ ip: string }> } | null;
  linux: { namespaces: { options: NamespaceOption | null } | null } | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}

export interface PodSandboxStatusResponse {
  status: PodSandboxStatus | null;
  /** verbose only: runtime-specific JSON documents (containerd: key "info") */
  info: Record<string, string>;
}

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata | null;
  state: PodSandboxState;
  createdAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}

export interface PodSandboxFilter {
  id?: string;
  state?: { state: PodSandboxState };
  labelSelector?: Record<string, string>;
}

type Callback<T> = (err: grpc.ServiceError | null, res?: T) => void;
type Unary<Req, Res> = (req: Req, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<Res>) => void;

interface RuntimeServiceStub extends grpc.Client {
  Version: Unary<{ version: string }, VersionResponse>;
  RunPodSandbox: Unary<{ config: PodSandboxConfig; runtimeHandler?: string }, { podSandboxId: string }>;
  StopPodSandbox: Unary<{ podSandboxId: string }, Record<string, never>>;
  RemovePodSandbox: Unary<{ podSandboxId: string }, Record<string, never>>;
  PodSandboxStatus: Unary<{ podSandboxId: string; verbose: boolean }, PodSandboxStatusResponse>;
  ListPodSandbox: Unary<{ filter?: PodSandboxFilter }, { items: PodSandbox[] }>;
}

type StubConstructor = new (address: string, creds: grpc.ChannelCredentials) => RuntimeServiceStub;

let stubConstructor: StubConstructor | undefined;

function loadStub(): StubConstructor {
  if (stubConstructor) return stubConstructor;
  const def = protoLoader.loadSync(CRI_PROTO, { keepCase: false, longs: String, enums: String, defaults: true, arrays: true, objects: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { RuntimeService: StubConstructor } } };
  stubConstructor = pkg.runtime.v1.RuntimeService;
  return stubConstructor;
}

export class CriClient {
  private readonly stub: RuntimeServiceStub;

  /** `socketPath`: the runtime's CRI unix socket (containerd: its grpc address). */
  constructor(readonly socketPath: string, private readonly timeoutMs = 60000) {
    if (!socketPath.startsWith('/')) throw new Error(`CRI socket path must be absolute, got ${socketPath}`);
    const Stub = loadStub();
    this.stub = new Stub(`unix://${socketPath}`, grpc.credentials.createInsecure());
  }

  private call<Req, Res>(name: string, method: Unary<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(this.stub, req, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) reject(new Error(`CRI ${name} on ${this.socketPath} failed: ${err.details || err.message} (grpc code ${err.code})`));
        else if (res === undefined) reject(new Error(`CRI ${name} on ${this.socketPath} returned no response`));
        else resolve(res);
      });
    });
  }

  version(): Promise<VersionResponse> {
    return this.call('Version', this.stub.Version, { version: 'v1' });
  }

  async runPodSandbox(config: PodSandboxConfig, runtimeHandler = ''): Promise<string> {
    const r = await this.call('RunPodSandbox', this.stub.RunPodSandbox, { config, runtimeHandler });
    if (!/^[0-9a-f]{64}$/.test(r.podSandboxId)) throw new Error(`CRI RunPodSandbox returned an unexpected sandbox id ${JSON.stringify(r.podSandboxId)}`);
    return r.podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.call('StopPodSandbox', this.stub.StopPodSandbox, { podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.call('RemovePodSandbox', this.stub.RemovePodSandbox, { podSandboxId });
  }

  podSandboxStatus(podSandboxId: string, verbose = false): Promise<PodSandboxStatusResponse> {
    return this.call('PodSandboxStatus', this.stub.PodSandboxStatus, { podSandboxId, verbose });
  }

  async listPodSandbox(filter?: PodSandboxFilter): Promise<PodSandbox[]> {
    const r = await this.call('ListPodSandbox', this.stub.ListPodSandbox, filter ? { filter } : {});
    return r.items;
  }

  close(): void {
    this.stub.close();
  }
}

/** A kubelet-like sandbox config: metadata, hostname, labels, namespaces as kubelet sets them (network/ipc POD, pid CONTAINER). */
export function sandboxConfig(name: string, namespace: string, uid: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  return {
    metadata: { name, namespace, uid, attempt: 0 },
    hostname: name,
    labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': namespace, 'io.kubernetes.pod.uid': uid },
    linux: { securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    ...extra,
  };
}
