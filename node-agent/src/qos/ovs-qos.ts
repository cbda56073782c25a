// OVS QoS rows for pod ingress limits: one `linux-htb` QoS with max-rate and one Queue (queue 0, the
// class unclassified traffic falls into) per pod port. QoS and Queue are root tables: OVSDB does not
// garbage-collect them when the port goes away, so every row carries the owner's attachment key in
// external_ids and is deleted explicitly by it.
import type { Operation, OvsdbAtom, OvsdbClient, OvsdbRow, OvsdbValue } from '../ovs/ovsdb.js';
import { checkIfName, checkStringMap } from '../ovs/validate.js';
import type { HtbParams } from './limits.js';

/** external_ids key on Loom's QoS and Queue rows: the attachment key (containerId/ifname). */
export const QOS_OWNER_KEY = 'loom-qos-owner';
export const QOS_POD_KEY = 'loom-pod';

export interface LoomQosRow {
  uuid: string;
  owner: string;
  type: string;
  maxRateBps: number | undefined;
  burstBits: number | undefined;
  queueUuids: string[];
}

export interface LoomQueueRow {
  uuid: string;
  owner: string;
  maxRateBps: number | undefined;
}

const EMPTY: OvsdbValue = ['set', []];
const ownedBy = (owner: string): OvsdbValue => ['map', [[QOS_OWNER_KEY, owner]]];

function uuidOf(v: OvsdbValue | undefined): string {
  if (Array.isArray(v) && v[0] === 'uuid' && typeof v[1] === 'string') return v[1];
  throw new Error(`OVSDB returned ${JSON.stringify(v)} where a uuid was expected`);
}

function mapOf(v: OvsdbValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v) && v[0] === 'map') for (const [k, x] of v[1] as Array<[OvsdbAtom, OvsdbAtom]>) out[String(k)] = String(x);
  return out;
}

function atomsOf(v: OvsdbValue | undefined): OvsdbAtom[] {
  if (v === undefined) return [];
  if (Array.isArray(v) && v[0] === 'set') return v[1] as OvsdbAtom[];
  return [v as OvsdbAtom];
}

function optionalNumber(s: string | undefined): number | undefined {
  return s === undefined || !/^\d+$/.test(s) ? undefined : Number(s);
}

function checkOwner(owner: string): string {
  checkStringMap('QoS owner', { [QOS_OWNER_KEY]: owner });
  if (owner === '') throw new Error('QoS owner (attachment key) must not be empty');
  return owner;
}

/** Every QoS row Loom created (any owner), with its queues. */
export async function listLoomQos(ovsdb: OvsdbClient): Promise<LoomQosRow[]> {
  const [sel] = await ovsdb.transact('listing QoS rows', [{ op: 'select', table: 'QoS', where: [], columns: ['_uuid', 'type', 'other_config', 'external_ids', 'queues'] }]);
  const out: LoomQosRow[] = [];
  for (const row of sel?.rows ?? []) {
    const owner = mapOf(row.external_ids)[QOS_OWNER_KEY];
    if (owner === undefined) continue;
    const cfg = mapOf(row.other_config);
    const queues = Array.isArray(row.queues) && row.queues[0] === 'map' ? (row.queues[1] as Array<[OvsdbAtom, OvsdbAtom]>) : [];
    out.push({
      uuid: uuidOf(row._uuid),
      owner,
      type: String(row.type ?? ''),
      maxRateBps: optionalNumber(cfg['max-rate']),
      burstBits: optionalNumber(cfg.burst),
      queueUuids: queues.map(([, q]) => uuidOf(q as OvsdbValue)),
    });
  }
  return out;
}

/** Every Queue row Loom created (any owner). */
export async function listLoomQueues(ovsdb: OvsdbClient): Promise<LoomQueueRow[]> {
  const [sel] = await ovsdb.transact('listing Queue rows', [{ op: 'select', table: 'Queue', where: [], columns: ['_uuid', 'other_config', 'external_ids'] }]);
  const out: LoomQueueRow[] = [];
  for (const row of sel?.rows ?? []) {
    const owner = mapOf(row.external_ids)[QOS_OWNER_KEY];
    if (owner === undefined) continue;
    out.push({ uuid: uuidOf(row._uuid), owner, maxRateBps: optionalNumber(mapOf(row.other_config)['max-rate']) });
  }
  return out;
}

/** The QoS uuid a port references, or null (no QoS); undefined when the port does not exist. */
export async function portQosUuid(ovsdb: OvsdbClient, port: string): Promise<string | null | undefined> {
  checkIfName('port name', port);
  const [sel] = await ovsdb.transact(`reading the QoS of port ${port}`, [{ op: 'select', table: 'Port', where: [['name', '==', port]], columns: ['qos'] }]);
  const row: OvsdbRow | undefined = sel?.rows?.[0];
  if (row === undefined) return undefined;
  const [first] = atomsOf(row.qos);
  return first === undefined ? null : uuidOf(first as OvsdbValue);
}

/** Operations that detach and delete every QoS/Queue row of `owner`. */
async function removalOps(ovsdb: OvsdbClient, owner: string): Promise<Operation[]> {
  const [sel, queues] = await ovsdb.transact(`finding the QoS rows of ${owner}`, [
    { op: 'select', table: 'QoS', where: [['external_ids', 'includes', ownedBy(owner)]], columns: ['_uuid'] },
    { op: 'select', table: 'Queue', where: [['external_ids', 'includes', ownedBy(owner)]], columns: ['_uuid'] },
  ]);
  const ops: Operation[] = [];
  for (const row of sel?.rows ?? []) {
    const uuid: OvsdbValue = ['uuid', uuidOf(row._uuid)];
    ops.push({ op: 'update', table: 'Port', where: [['qos', 'includes', uuid]], row: { qos: EMPTY } });
    ops.push({ op: 'delete', table: 'QoS', where: [['_uuid', '==', uuid]] });
  }
  if ((queues?.rows ?? []).length > 0) ops.push({ op: 'delete', table: 'Queue', where: [['external_ids', 'includes', ownedBy(owner)]] });
  return ops;
}

/**
 * Limits traffic OVS sends out of `port` (into the pod) with linux-htb: replaces any previous rows of
 * `owner` in one transaction. Throws when the port does not exist.
 */
export async function setPortIngressQos(ovsdb: OvsdbClient, owner: string, port: string, htb: HtbParams, labels: Record<string, string> = {}): Promise<void> {
  checkOwner(owner);
  checkIfName('port name', port);
  const externalIds: OvsdbValue = ['map', Object.entries(checkStringMap('QoS external_ids', { ...labels, [QOS_OWNER_KEY]: owner }))];
  // min-rate = max-rate: the queue's class owns the whole rate with our burst instead of borrowing
  // from the root class, whose burst OVS fixes at one MTU (too small to keep 100M+ at the rate).
  const rate = String(htb.maxRateBps);
  const config: OvsdbValue = ['map', [['min-rate', rate], ['max-rate', rate], ['burst', String(htb.burstBits)]]];
  const ops: Operation[] = [
    // Aborts the whole transaction (nothing is left behind) when the port does not exist.
    { op: 'wait', table: 'Port', where: [['name', '==', port]], columns: ['name'], until: '==', rows: [{ name: port }], timeout: 0 },
    ...(await removalOps(ovsdb, owner)),
    { op: 'insert', table: 'Queue', row: { other_config: config, external_ids: externalIds }, 'uuid-name': 'q0' },
    {
      op: 'insert',
      table: 'QoS',
      row: { type: 'linux-htb', other_config: ['map', [['max-rate', String(htb.maxRateBps)]]], queues: ['map', [[0, ['named-uuid', 'q0']]]], external_ids: externalIds },
      'uuid-name': 'qos',
    },
    { op: 'update', table: 'Port', where: [['name', '==', port]], row: { qos: ['named-uuid', 'qos'] } },
  ];
  const results = await ovsdb.transactRaw(ops);
  if (results[0]?.error !== undefined) {
    throw new Error(`cannot limit ingress of port ${port}: the port does not exist in OVS (add the pod's port first)`);
  }
  const failed = results.find((r) => r !== null && r.error !== undefined);
  if (failed) throw new Error(`setting the ingress limit of port ${port} failed: ${failed.error}${failed.details ? `: ${failed.details}` : ''}`);
}

/** Removes every QoS and Queue row of `owner` (and the port's reference to them). Returns how many QoS rows went. */
export async function removePortIngressQos(ovsdb: OvsdbClient, owner: string): Promise<number> {
  checkOwner(owner);
  const ops = await removalOps(ovsdb, owner);
  if (ops.length === 0) return 0;
  const results = await ovsdb.transact(`removing the QoS rows of ${owner}`, ops);
  return results.filter((r, i) => ops[i]?.op === 'delete' && ops[i]?.table === 'QoS' && (r.count ?? 0) > 0).length;
}
