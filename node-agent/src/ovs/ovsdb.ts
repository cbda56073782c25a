// Native OVSDB client (RFC 7047) for the Open_vSwitch database: bridges, ports, external_ids and the
// few Open_vSwitch-row settings the agent needs. One persistent unix-socket connection (jsonrpc.ts),
// no ovs-vsctl spawns. Every operation is idempotent, so a caller may retry after a lost connection.
import { existsSync } from 'node:fs';
import { JsonRpcConnection, type Json, type JsonRpcOptions } from './jsonrpc.js';
import { checkIfName, checkIpv4, checkOfPort, checkStringMap, checkUint, invalid } from './validate.js';

const DB = 'Open_vSwitch';

// ---- OVSDB wire types (RFC 7047 section 5.1) ----
export type OvsdbAtom = string | number | boolean | ['uuid', string] | ['named-uuid', string];
export type OvsdbValue = OvsdbAtom | ['set', OvsdbAtom[]] | ['map', Array<[OvsdbAtom, OvsdbAtom]>];
export type OvsdbRow = Record<string, OvsdbValue>;
export type Condition = [string, '==' | '!=' | 'includes' | 'excludes', OvsdbValue];
export type Mutation = [string, 'insert' | 'delete' | '+=' | '-=', OvsdbValue];
export type Operation =
  | { op: 'select'; table: string; where: Condition[]; columns?: string[] }
  | { op: 'insert'; table: string; row: OvsdbRow; 'uuid-name'?: string }
  | { op: 'update'; table: string; where: Condition[]; row: OvsdbRow }
  | { op: 'mutate'; table: string; where: Condition[]; mutations: Mutation[] }
  | { op: 'delete'; table: string; where: Condition[] }
  | { op: 'wait'; table: string; where: Condition[]; columns: string[]; until: '==' | '!='; rows: OvsdbRow[]; timeout?: number }
  | { op: 'comment'; comment: string };
export interface OperationResult {
  rows?: OvsdbRow[];
  count?: number;
  uuid?: ['uuid', string];
  error?: string;
  details?: string;
}

// ---- Loom-facing types ----
export type DatapathType = 'netdev' | 'system';
export type StringMap = Record<string, string>;

export interface BridgeOptions {
  datapathType?: DatapathType;
  failMode?: 'secure' | 'standalone';
  /** merged into the bridge's external_ids (other keys are kept) */
  externalIds?: StringMap;
  /** merged into the bridge's other_config */
  otherConfig?: StringMap;
  /** OpenFlow versions to enable, e.g. ['OpenFlow10', 'OpenFlow15']; unchanged when absent */
  protocols?: string[];
}

export interface PortOptions {
  /** Interface type: '' (system device such as a veth), 'internal', 'vxlan', ... */
  type?: string;
  /** replaces the Interface's external_ids */
  externalIds?: StringMap;
  ofportRequest?: number;
  /** Interface options, e.g. {remote_ip: 'flow', key: 'flow'} for a flow-based tunnel */
  options?: StringMap;
  /** how long to wait for ovs-vswitchd to assign the OpenFlow port (default 5000 ms) */
  timeoutMs?: number;
}

export interface TunnelPortOptions {
  type?: 'vxlan' | 'geneve';
  /** UDP destination port (VXLAN default 4789) */
  dstPort?: number;
  /** local underlay IP to bind, optional */
  localIp?: string;
  ofportRequest?: number;
  externalIds?: StringMap;
  timeoutMs?: number;
}

export interface PortInfo {
  name: string;
  /** OpenFlow port number; -1 when OVS failed to open the interface; null while not assigned yet */
  ofport: number | null;
  type: string;
  externalIds: StringMap;
  /** Interface error column (why ofport is -1), null when none */
  error: string | null;
}

export interface OvsCapabilities {
  datapathTypes: string[];
  ifaceTypes: string[];
}

// ---- value helpers ----
const map = (m: StringMap): OvsdbValue => ['map', Object.entries(m)];
const set = (atoms: OvsdbAtom[]): OvsdbValue => ['set', atoms];
const named = (name: string): OvsdbAtom => ['named-uuid', name];
const EMPTY: OvsdbValue = ['set', []];

function atoms(v: OvsdbValue | undefined): OvsdbAtom[] {
  if (v === undefined) return [];
  if (Array.isArray(v) && v[0] === 'set') return v[1] as OvsdbAtom[];
  return [v as OvsdbAtom];
}

function toStringMap(v: OvsdbValue | undefined): StringMap {
  const out: StringMap = {};
  if (Array.isArray(v) && v[0] === 'map') {
    for (const [k, x] of v[1] as Array<[OvsdbAtom, OvsdbAtom]>) out[String(k)] = String(x);
  }
  return out;
}

function uuidOf(a: OvsdbAtom | undefined): string {
  if (Array.isArray(a) && a[0] === 'uuid') return a[1];
  throw new Error(`OVSDB returned ${JSON.stringify(a)} where a uuid was expected`);
}

function optionalInt(v: OvsdbValue | undefined): number | null {
  const [first] = atoms(v);
  return typeof first === 'number' ? first : null;
}

function optionalString(v: OvsdbValue | undefined): string | null {
  const [first] = atoms(v);
  return typeof first === 'string' ? first : null;
}

export class OvsdbError extends Error {}

/** OVSDB client for the Open_vSwitch database. */
export class OvsdbClient {
  private constructor(private readonly rpc: JsonRpcConnection) {}

  /** Connects to `unix:/path/db.sock` (or a bare path). Fails fast when ovsdb-server is not there. */
  static async connect(socket: string, opts: JsonRpcOptions = {}): Promise<OvsdbClient> {
    const path = socket.startsWith('unix:') ? socket.slice('unix:'.length) : socket;
    if (path === '' || socket.startsWith('tcp:') || socket.startsWith('ssl:')) {
      throw invalid('OVSDB socket', socket, 'unix:/path/to/db.sock');
    }
    return new OvsdbClient(await JsonRpcConnection.open(path, opts));
  }

  isConnected(): boolean {
    return this.rpc.isConnected();
  }

  /** Called after each automatic reconnection (e.g. to resynchronize state). */
  set onReconnect(fn: (() => void) | null) {
    this.rpc.onReconnect = fn;
  }

  close(): void {
    this.rpc.close();
  }

  /** Sends a transaction; returns the raw per-operation results (errors not turned into exceptions). */
  async transactRaw(ops: Operation[], timeoutMs?: number): Promise<Array<OperationResult | null>> {
    const result = await this.rpc.request('transact', [DB, ...(ops as unknown as Json[])], timeoutMs);
    if (!Array.isArray(result)) throw new OvsdbError(`OVSDB transact returned ${JSON.stringify(result)} instead of an array`);
    return result as unknown as Array<OperationResult | null>;
  }

  /** Sends a transaction and throws a descriptive error when any operation (or the commit) failed. */
  async transact(what: string, ops: Operation[], timeoutMs?: number): Promise<OperationResult[]> {
    const results = await this.transactRaw(ops, timeoutMs);
    const failed = results.findIndex((r) => r !== null && r.error !== undefined);
    if (failed >= 0) {
      const r = results[failed] as OperationResult;
      const op = ops[failed];
      const where = op ? `operation ${failed} (${op.op} ${'table' in op ? op.table : ''})` : 'commit';
      throw new OvsdbError(`${what} failed at ${where}: ${r.error}${r.details ? `: ${r.details}` : ''}`);
    }
    return results as OperationResult[];
  }

  /** Liveness check: one echo round trip. */
  async echo(): Promise<void> {
    await this.rpc.request('echo', ['loom']);
  }

  // ---- Open_vSwitch row ----

  /** Creates the single Open_vSwitch row when missing (what `ovs-vsctl init` does). */
  async ensureInitialized(): Promise<void> {
    const [sel] = await this.transact('read Open_vSwitch row', [{ op: 'select', table: DB, where: [], columns: ['_uuid'] }]);
    if ((sel?.rows ?? []).length > 0) return;
    const results = await this.transactRaw([
      { op: 'wait', table: DB, where: [], columns: ['_uuid'], until: '==', rows: [], timeout: 0 },
      { op: 'insert', table: DB, row: {} },
    ]);
    if (results[0]?.error !== undefined && results[0].error !== 'timed out') {
      throw new OvsdbError(`creating the Open_vSwitch row failed: ${results[0].error}`);
    }
  }

  async getCapabilities(): Promise<OvsCapabilities> {
    const row = await this.openVswitchRow(['datapath_types', 'iface_types']);
    return {
      datapathTypes: atoms(row.datapath_types).map(String),
      ifaceTypes: atoms(row.iface_types).map(String),
    };
  }

  /**
   * Picks the datapath: 'system' when ovs-vswitchd supports it and the openvswitch kernel module is
   * loaded, else 'netdev' (userspace). vswitchd lists 'system' even without the module, hence the check.
   */
  async detectDatapathType(kernelModuleLoaded = existsSync('/sys/module/openvswitch')): Promise<DatapathType> {
    const { datapathTypes } = await this.getCapabilities();
    if (datapathTypes.includes('system') && kernelModuleLoaded) return 'system';
    if (datapathTypes.includes('netdev')) return 'netdev';
    throw new OvsdbError(`ovs-vswitchd supports neither a usable system nor a netdev datapath (datapath_types=${JSON.stringify(datapathTypes)}); is ovs-vswitchd running?`);
  }

  async getFlowRestoreWait(): Promise<boolean> {
    const row = await this.openVswitchRow(['other_config']);
    return toStringMap(row.other_config)['flow-restore-wait'] === 'true';
  }

  /** on: other_config:flow-restore-wait=true (vswitchd keeps datapath flows until it is removed); off: removes it. */
  async setFlowRestoreWait(on: boolean): Promise<void> {
    const mutations: Mutation[] = [['other_config', 'delete', set(['flow-restore-wait'])]];
    if (on) mutations.push(['other_config', 'insert', map({ 'flow-restore-wait': 'true' })]);
    const [r] = await this.transact('set flow-restore-wait', [{ op: 'mutate', table: DB, where: [], mutations }]);
    if (r?.count !== 1) throw new OvsdbError('the Open_vSwitch table has no row; run ensureInitialized() (ovs-vsctl init) first');
  }

  private async openVswitchRow(columns: string[]): Promise<OvsdbRow> {
    const [sel] = await this.transact('read Open_vSwitch row', [{ op: 'select', table: DB, where: [], columns }]);
    const row = sel?.rows?.[0];
    if (row === undefined) throw new OvsdbError('the Open_vSwitch table has no row; run ensureInitialized() (ovs-vsctl init) first');
    return row;
  }

  // ---- bridges ----

  /** Creates the bridge when absent, else sets the given fields. Returns whether it was created. */
  async ensureBridge(name: string, opts: BridgeOptions = {}): Promise<{ created: boolean }> {
    checkIfName('bridge name', name);
    if (opts.datapathType !== undefined && opts.datapathType !== 'netdev' && opts.datapathType !== 'system') {
      throw invalid('datapath type', opts.datapathType, 'netdev or system');
    }
    if (opts.failMode !== undefined && opts.failMode !== 'secure' && opts.failMode !== 'standalone') {
      throw invalid('fail mode', opts.failMode, 'secure or standalone');
    }
    const externalIds = checkStringMap('bridge external_ids', opts.externalIds ?? {});
    const otherConfig = checkStringMap('bridge other_config', opts.otherConfig ?? {});
    for (const p of opts.protocols ?? []) {
      if (!/^OpenFlow1[0-5]$/.test(p)) throw invalid('OpenFlow protocol', p, 'OpenFlow10..OpenFlow15');
    }
    const fields: OvsdbRow = {};
    if (opts.datapathType !== undefined) fields.datapath_type = opts.datapathType;
    if (opts.failMode !== undefined) fields.fail_mode = opts.failMode;
    if (opts.protocols !== undefined) fields.protocols = set(opts.protocols);

    const created = await this.transactRaw([
      { op: 'wait', table: 'Bridge', where: [['name', '==', name]], columns: ['name'], until: '==', rows: [], timeout: 0 },
      { op: 'insert', table: 'Interface', row: { name, type: 'internal' }, 'uuid-name': 'iface' },
      { op: 'insert', table: 'Port', row: { name, interfaces: named('iface') }, 'uuid-name': 'port' },
      {
        op: 'insert',
        table: 'Bridge',
        row: { ...fields, name, ports: named('port'), external_ids: map(externalIds), other_config: map(otherConfig) },
        'uuid-name': 'br',
      },
      { op: 'mutate', table: DB, where: [], mutations: [['bridges', 'insert', set([named('br')])]] },
    ]);
    const bridgeExists = created[0]?.error === 'timed out';
    if (!bridgeExists) {
      const failed = created.find((r) => r !== null && r.error !== undefined);
      if (failed) throw new OvsdbError(`creating bridge ${name} failed: ${failed.error}${failed.details ? `: ${failed.details}` : ''}`);
      if (created[4]?.count !== 1) throw new OvsdbError('the Open_vSwitch table has no row; run ensureInitialized() (ovs-vsctl init) first');
      await this.waitForOfport(name, 5000);
      return { created: true };
    }
    const ops: Operation[] = [];
    if (Object.keys(fields).length > 0) ops.push({ op: 'update', table: 'Bridge', where: [['name', '==', name]], row: fields });
    ops.push(...mergeMapOps('Bridge', name, 'external_ids', externalIds), ...mergeMapOps('Bridge', name, 'other_config', otherConfig));
    if (ops.length > 0) await this.transact(`updating bridge ${name}`, ops);
    return { created: false };
  }

  async deleteBridge(name: string): Promise<void> {
    checkIfName('bridge name', name);
    const [sel] = await this.transact(`reading bridge ${name}`, [{ op: 'select', table: 'Bridge', where: [['name', '==', name]], columns: ['_uuid'] }]);
    const row = sel?.rows?.[0];
    if (row === undefined) return;
    await this.transact(`deleting bridge ${name}`, [
      { op: 'mutate', table: DB, where: [], mutations: [['bridges', 'delete', set([['uuid', uuidOf(row._uuid as OvsdbAtom)]])]] },
    ]);
  }

  async bridgeExists(name: string): Promise<boolean> {
    checkIfName('bridge name', name);
    const [sel] = await this.transact(`reading bridge ${name}`, [{ op: 'select', table: 'Bridge', where: [['name', '==', name]], columns: ['name'] }]);
    return (sel?.rows ?? []).length > 0;
  }

  async getBridgeExternalIds(bridge: string): Promise<StringMap> {
    return toStringMap((await this.bridgeRow(bridge, ['external_ids'])).external_ids);
  }

  /** Merges keys into the bridge's external_ids; a null value removes the key. */
  async setBridgeExternalIds(bridge: string, partial: Record<string, string | null>): Promise<void> {
    await this.mergeBridgeMap(bridge, 'external_ids', partial);
  }

  async getBridgeOtherConfig(bridge: string): Promise<StringMap> {
    return toStringMap((await this.bridgeRow(bridge, ['other_config'])).other_config);
  }

  /** Merges keys into the bridge's other_config; a null value removes the key. */
  async setBridgeOtherConfig(bridge: string, partial: Record<string, string | null>): Promise<void> {
    await this.mergeBridgeMap(bridge, 'other_config', partial);
  }

  private async mergeBridgeMap(bridge: string, column: string, partial: Record<string, string | null>): Promise<void> {
    checkIfName('bridge name', bridge);
    const setKeys: StringMap = {};
    const removeKeys: string[] = [];
    for (const [k, v] of Object.entries(partial)) {
      if (v === null) removeKeys.push(k);
      else setKeys[k] = v;
    }
    checkStringMap(`bridge ${column}`, setKeys);
    checkStringMap(`bridge ${column} keys to remove`, Object.fromEntries(removeKeys.map((k) => [k, ''])));
    const ops = mergeMapOps('Bridge', bridge, column, setKeys, removeKeys);
    if (ops.length === 0) return;
    const [r] = await this.transact(`setting ${column} of bridge ${bridge}`, ops);
    if (r?.count !== 1) throw new OvsdbError(`bridge ${bridge} does not exist (create it with ensureBridge first)`);
  }

  private async bridgeRow(bridge: string, columns: string[]): Promise<OvsdbRow> {
    checkIfName('bridge name', bridge);
    const [sel] = await this.transact(`reading bridge ${bridge}`, [{ op: 'select', table: 'Bridge', where: [['name', '==', bridge]], columns }]);
    const row = sel?.rows?.[0];
    if (row === undefined) throw new OvsdbError(`bridge ${bridge} does not exist (create it with ensureBridge first)`);
    return row;
  }

  // ---- ports ----

  /**
   * Adds a port (one Interface of the given type) to the bridge, or updates it when it already exists
   * there, then waits until ovs-vswitchd has assigned its OpenFlow port and returns it.
   */
  async addPort(bridge: string, name: string, opts: PortOptions = {}): Promise<number> {
    checkIfName('bridge name', bridge);
    checkIfName('port name', name);
    const type = opts.type ?? '';
    if (!/^[a-z0-9-]{0,20}$/.test(type)) throw invalid('interface type', type, 'an OVS interface type such as "", internal, vxlan');
    const iface: OvsdbRow = {
      type,
      external_ids: map(checkStringMap('port external_ids', opts.externalIds ?? {})),
      options: map(checkStringMap('interface options', opts.options ?? {})),
      ofport_request: opts.ofportRequest === undefined ? EMPTY : checkOfPort('ofport_request', opts.ofportRequest),
    };
    const results = await this.transactRaw([
      { op: 'wait', table: 'Bridge', where: [['name', '==', bridge]], columns: ['name'], until: '==', rows: [{ name: bridge }], timeout: 0 },
      { op: 'wait', table: 'Port', where: [['name', '==', name]], columns: ['name'], until: '==', rows: [], timeout: 0 },
      { op: 'insert', table: 'Interface', row: { ...iface, name }, 'uuid-name': 'iface' },
      { op: 'insert', table: 'Port', row: { name, interfaces: named('iface') }, 'uuid-name': 'port' },
      { op: 'mutate', table: 'Bridge', where: [['name', '==', bridge]], mutations: [['ports', 'insert', set([named('port')])]] },
    ]);
    if (results[0]?.error !== undefined) throw new OvsdbError(`cannot add port ${name}: bridge ${bridge} does not exist (create it with ensureBridge first)`);
    if (results[1]?.error !== undefined) {
      // The port exists: it must be on this bridge; bring its Interface to the requested state.
      await this.assertPortOnBridge(bridge, name);
      await this.transact(`updating port ${name}`, [{ op: 'update', table: 'Interface', where: [['name', '==', name]], row: iface }]);
    } else {
      const failed = results.find((r) => r !== null && r.error !== undefined);
      if (failed) throw new OvsdbError(`adding port ${name} to ${bridge} failed: ${failed.error}${failed.details ? `: ${failed.details}` : ''}`);
    }
    return this.waitForOfport(name, opts.timeoutMs ?? 5000);
  }

  /** The gateway-style internal port (e.g. loom-gw0). */
  async ensureInternalPort(bridge: string, name: string, opts: { ofportRequest?: number; externalIds?: StringMap; timeoutMs?: number } = {}): Promise<number> {
    return this.addPort(bridge, name, { ...opts, type: 'internal' });
  }

  /** One flow-based tunnel port for all peers: options remote_ip=flow, key=flow (tun_dst/tun_id set by flows). */
  async ensureTunnelPort(bridge: string, name: string, opts: TunnelPortOptions = {}): Promise<number> {
    const type = opts.type ?? 'vxlan';
    if (type !== 'vxlan' && type !== 'geneve') throw invalid('tunnel type', type, 'vxlan or geneve');
    const options: StringMap = { remote_ip: 'flow', key: 'flow' };
    if (opts.dstPort !== undefined) options.dst_port = String(checkUint('tunnel dst_port', opts.dstPort, 65535, 1));
    if (opts.localIp !== undefined) options.local_ip = checkIpv4('tunnel local_ip', opts.localIp);
    const portOpts: PortOptions = { type, options };
    if (opts.ofportRequest !== undefined) portOpts.ofportRequest = opts.ofportRequest;
    if (opts.externalIds !== undefined) portOpts.externalIds = opts.externalIds;
    if (opts.timeoutMs !== undefined) portOpts.timeoutMs = opts.timeoutMs;
    return this.addPort(bridge, name, portOpts);
  }

  private async assertPortOnBridge(bridge: string, name: string): Promise<void> {
    const [br, port] = await this.transact(`reading port ${name}`, [
      { op: 'select', table: 'Bridge', where: [['name', '==', bridge]], columns: ['ports'] },
      { op: 'select', table: 'Port', where: [['name', '==', name]], columns: ['_uuid'] },
    ]);
    const portRow = port?.rows?.[0];
    if (portRow === undefined) throw new OvsdbError(`port ${name} disappeared while being added to ${bridge}; retry`);
    const portUuid = uuidOf(portRow._uuid as OvsdbAtom);
    const bridgePorts = atoms(br?.rows?.[0]?.ports).map((a) => uuidOf(a));
    if (!bridgePorts.includes(portUuid)) {
      throw new OvsdbError(`port ${name} already exists on another bridge than ${bridge}; delete it there first`);
    }
  }

  /** Waits (server side, one round trip) until vswitchd has set the Interface's ofport. */
  private async waitForOfport(name: string, timeoutMs: number): Promise<number> {
    const where: Condition[] = [['name', '==', name]];
    const results = await this.transactRaw(
      [
        { op: 'wait', table: 'Interface', where, columns: ['ofport'], until: '!=', rows: [{ ofport: EMPTY }], timeout: timeoutMs },
        { op: 'select', table: 'Interface', where, columns: ['ofport', 'error'] },
      ],
      timeoutMs + 2000,
    );
    if (results[0]?.error !== undefined) {
      throw new OvsdbError(`ovs-vswitchd did not assign an OpenFlow port to ${name} within ${timeoutMs} ms (${results[0].error}); is ovs-vswitchd running?`);
    }
    const row = results[1]?.rows?.[0];
    if (row === undefined) throw new OvsdbError(`interface ${name} was deleted while waiting for its OpenFlow port`);
    const ofport = optionalInt(row.ofport);
    if (ofport === null || ofport < 0) {
      throw new OvsdbError(`OVS could not attach ${name} (ofport ${ofport}): ${optionalString(row.error) ?? 'no error given'}; check that the device exists and is not in use`);
    }
    return ofport;
  }

  /** Removes the port from the bridge; no error when it does not exist. */
  async deletePort(bridge: string, name: string): Promise<void> {
    checkIfName('bridge name', bridge);
    checkIfName('port name', name);
    const [sel] = await this.transact(`reading port ${name}`, [{ op: 'select', table: 'Port', where: [['name', '==', name]], columns: ['_uuid'] }]);
    const row = sel?.rows?.[0];
    if (row === undefined) return;
    await this.transact(`deleting port ${name} from ${bridge}`, [
      { op: 'mutate', table: 'Bridge', where: [['name', '==', bridge]], mutations: [['ports', 'delete', set([['uuid', uuidOf(row._uuid as OvsdbAtom)]])]] },
    ]);
  }

  /** One port by name (Interface columns), or null. */
  async getPort(name: string): Promise<PortInfo | null> {
    checkIfName('port name', name);
    const [sel] = await this.transact(`reading interface ${name}`, [
      { op: 'select', table: 'Interface', where: [['name', '==', name]], columns: ['name', 'ofport', 'type', 'external_ids', 'error'] },
    ]);
    const row = sel?.rows?.[0];
    return row === undefined ? null : toPortInfo(String(row.name), row);
  }

  /** Every port of the bridge (including the bridge's own internal port), one entry per Interface. */
  async listPorts(bridge: string): Promise<PortInfo[]> {
    checkIfName('bridge name', bridge);
    const [br, ports, ifaces] = await this.transact(`listing ports of ${bridge}`, [
      { op: 'select', table: 'Bridge', where: [['name', '==', bridge]], columns: ['ports'] },
      { op: 'select', table: 'Port', where: [], columns: ['_uuid', 'interfaces'] },
      { op: 'select', table: 'Interface', where: [], columns: ['_uuid', 'name', 'ofport', 'type', 'external_ids', 'error'] },
    ]);
    const bridgeRow = br?.rows?.[0];
    if (bridgeRow === undefined) throw new OvsdbError(`bridge ${bridge} does not exist (create it with ensureBridge first)`);
    const portIds = new Set(atoms(bridgeRow.ports).map((a) => uuidOf(a)));
    const ifaceIds = new Set<string>();
    for (const p of ports?.rows ?? []) {
      if (portIds.has(uuidOf(p._uuid as OvsdbAtom))) atoms(p.interfaces).forEach((a) => ifaceIds.add(uuidOf(a)));
    }
    return (ifaces?.rows ?? [])
      .filter((r) => ifaceIds.has(uuidOf(r._uuid as OvsdbAtom)))
      .map((r) => toPortInfo(String(r.name), r))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

function toPortInfo(name: string, row: OvsdbRow): PortInfo {
  return {
    name,
    ofport: optionalInt(row.ofport),
    type: String(row.type ?? ''),
    externalIds: toStringMap(row.external_ids),
    error: optionalString(row.error),
  };
}

/** Mutations that set some keys of a map column and remove others, leaving the rest alone. */
function mergeMapOps(table: string, name: string, column: string, setKeys: StringMap, removeKeys: string[] = []): Operation[] {
  const keys = Object.keys(setKeys);
  if (keys.length === 0 && removeKeys.length === 0) return [];
  const mutations: Mutation[] = [[column, 'delete', set([...keys, ...removeKeys])]];
  if (keys.length > 0) mutations.push([column, 'insert', map(setKeys)]);
  return [{ op: 'mutate', table, where: [['name', '==', name]], mutations }];
}
