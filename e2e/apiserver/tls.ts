// A throw-away self-signed certificate for the test API server, made with openssl (argument arrays only).
import { execa } from 'execa';
import { isIP } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TlsMaterial {
  key: string;
  cert: string;
}

/** Writes key.pem and cert.pem into dir (which the caller owns) and returns their contents. */
export async function makeSelfSignedCert(dir: string, host: string): Promise<TlsMaterial> {
  const names = ['DNS:localhost', 'IP:127.0.0.1'];
  if (isIP(host) !== 0 && host !== '127.0.0.1') names.push(`IP:${host}`);
  else if (isIP(host) === 0 && /^[A-Za-z0-9.-]+$/.test(host) && host !== 'localhost') names.push(`DNS:${host}`);
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  await execa('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=loom-test-apiserver',
    '-addext', `subjectAltName=${names.join(',')}`,
  ]);
  return { key: await readFile(keyPath, 'utf8'), cert: await readFile(certPath, 'utf8') };
}
