// Just enough of Kubernetes' protobuf encoding to accept what kubectl sends as protobuf:
// `kubectl create namespace` posts a v1 Namespace with the typed client (envelope "k8s\0" + runtime.Unknown).
import { unsupportedMediaType } from './errors.js';
import type { KubeObject, ObjectMeta } from './types.js';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"

interface Field {
  number: number;
  /** Varint value (wire type 0) or bytes (wire type 2). */
  value: bigint | Buffer;
}

function readVarint(buf: Buffer, offset: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = offset; i < buf.length; i++) {
    const byte = buf[i] ?? 0;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, i + 1];
    shift += 7n;
  }
  throw new Error('truncated varint');
}

function readFields(buf: Buffer): Field[] {
  const fields: Field[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const [tag, next] = readVarint(buf, offset);
    offset = next;
    const number = Number(tag >> 3n);
    switch (Number(tag & 7n)) {
      case 0: {
        const [value, after] = readVarint(buf, offset);
        fields.push({ number, value });
        offset = after;
        break;
      }
      case 1: offset += 8; break;
      case 5: offset += 4; break;
      case 2: {
        const [len, after] = readVarint(buf, offset);
        const end = after + Number(len);
        if (end > buf.length) throw new Error('truncated length-delimited field');
        fields.push({ number, value: buf.subarray(after, end) });
        offset = end;
        break;
      }
      default:
        throw new Error(`unsupported wire type in tag ${tag}`);
    }
  }
  return fields;
}

const bytesOf = (fields: Field[], n: number): Buffer[] => fields.filter((f) => f.number === n && Buffer.isBuffer(f.value)).map((f) => f.value as Buffer);
const stringOf = (fields: Field[], n: number): string | undefined => bytesOf(fields, n)[0]?.toString('utf8');

function stringMap(entries: Buffer[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const e of entries) {
    const f = readFields(e);
    map[stringOf(f, 1) ?? ''] = stringOf(f, 2) ?? '';
  }
  return map;
}

function objectMeta(buf: Buffer): ObjectMeta {
  const f = readFields(buf);
  const meta: ObjectMeta = {};
  const name = stringOf(f, 1);
  const generateName = stringOf(f, 2);
  const namespace = stringOf(f, 3);
  if (name) meta.name = name;
  if (generateName) meta.generateName = generateName;
  if (namespace) meta.namespace = namespace;
  const labels = bytesOf(f, 11);
  const annotations = bytesOf(f, 12);
  if (labels.length > 0) meta.labels = stringMap(labels);
  if (annotations.length > 0) meta.annotations = stringMap(annotations);
  return meta;
}

/** Decodes a protobuf-encoded v1 Namespace; other kinds are answered with 415 asking for JSON. */
export function decodeProtobufObject(body: Buffer): KubeObject {
  const contentType = PROTOBUF_CONTENT_TYPE;
  if (!body.subarray(0, 4).equals(MAGIC)) throw unsupportedMediaType(`${contentType} (missing k8s envelope)`);
  try {
    const unknown = readFields(body.subarray(4));
    const typeMeta = readFields(bytesOf(unknown, 1)[0] ?? Buffer.alloc(0));
    const apiVersion = stringOf(typeMeta, 1);
    const kind = stringOf(typeMeta, 2);
    if (apiVersion !== 'v1' || kind !== 'Namespace') {
      throw unsupportedMediaType(`${contentType} for ${apiVersion ?? '?'}/${kind ?? '?'}: only v1 Namespace is accepted as protobuf, send JSON`);
    }
    const ns = readFields(bytesOf(unknown, 2)[0] ?? Buffer.alloc(0));
    const obj: KubeObject = { apiVersion, kind, metadata: objectMeta(bytesOf(ns, 1)[0] ?? Buffer.alloc(0)) };
    const spec = bytesOf(ns, 2)[0];
    if (spec) {
      const finalizers = bytesOf(readFields(spec), 1).map((b) => b.toString('utf8'));
      if (finalizers.length > 0) obj['spec'] = { finalizers };
    }
    return obj;
  } catch (err) {
    if (err instanceof Error && err.name === 'ApiError') throw err;
    throw unsupportedMediaType(`${contentType} (undecodable: ${(err as Error).message})`);
  }
}
