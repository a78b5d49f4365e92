import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoadscopeError } from '../core/errors.ts';

/** A certificate signed by the control plane's CA (or the front-proxy CA). */
export interface CertSpec {
  /** File stem in the pki directory: `<name>.crt` and `<name>.key`. */
  name: string;
  cn: string;
  /** Organisations: Kubernetes reads them as the client's groups. */
  o?: string[];
  usage: 'server' | 'client';
  /** Subject alternative names of a serving certificate, e.g. `IP:127.0.0.1`, `DNS:kubernetes`. */
  san?: string[];
  ca?: 'ca' | 'front-proxy-ca';
}

/** PEM file paths of the control plane's PKI, all under one directory. */
export interface Pki {
  dir: string;
  ca: { crt: string; key: string };
  frontProxyCa: { crt: string; key: string };
  serviceAccount: { key: string; pub: string };
  cert(name: string): { crt: string; key: string };
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new LoadscopeError('ENVIRONMENT', missing ? 'openssl is not installed' : `openssl ${args[0]} failed: ${stderr.trim() || err.message}`, {
          cause: err,
          hint: missing ? 'apt-get install openssl' : undefined,
        }),
      );
    });
  });
}

const DAYS = '3650';
// EC P-256 keys: generated in milliseconds, accepted by every Kubernetes component.
const NEWKEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function subject(cn: string, o: string[] = []): string {
  return [...o.map((x) => `/O=${x}`), `/CN=${cn}`].join('');
}

/**
 * Creates a fresh PKI in `dir`: the cluster CA, a front-proxy CA (for aggregated API servers), a
 * service-account key pair, and one certificate per spec. Keys are readable by the owner only.
 */
export async function createPki(dir: string, certs: CertSpec[]): Promise<Pki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki: Pki = {
    dir,
    ca: { crt: join(dir, 'ca.crt'), key: join(dir, 'ca.key') },
    frontProxyCa: { crt: join(dir, 'front-proxy-ca.crt'), key: join(dir, 'front-proxy-ca.key') },
    serviceAccount: { key: join(dir, 'sa.key'), pub: join(dir, 'sa.pub') },
    cert: (name) => ({ crt: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }),
  };
  const caExt = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'];
  await Promise.all([
    openssl(['req', '-x509', ...NEWKEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', DAYS, '-subj', '/CN=loadscope-controlplane-ca', ...caExt], dir),
    openssl(['req', '-x509', ...NEWKEY, '-keyout', 'front-proxy-ca.key', '-out', 'front-proxy-ca.crt', '-days', DAYS, '-subj', '/CN=loadscope-front-proxy-ca', ...caExt], dir),
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.ec.key'], dir).then(async () => {
      await openssl(['pkcs8', '-topk8', '-nocrypt', '-in', 'sa.ec.key', '-out', 'sa.key'], dir);
      await openssl(['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
    }),
  ]);
  await Promise.all(certs.map((c) => signCert(dir, c)));
  return pki;
}

async function signCert(dir: string, c: CertSpec): Promise<void> {
  const ca = c.ca ?? 'ca';
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${c.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    ...(c.san?.length ? [`subjectAltName=${c.san.join(',')}`] : []),
  ];
  writeFileSync(join(dir, `${c.name}.ext`), `${ext.join('\n')}\n`);
  await openssl(['req', '-new', ...NEWKEY, '-keyout', `${c.name}.key`, '-out', `${c.name}.csr`, '-subj', subject(c.cn, c.o)], dir);
  await openssl(['x509', '-req', '-in', `${c.name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-out', `${c.name}.crt`, '-days', DAYS, '-extfile', `${c.name}.ext`], dir);
}

/** A kubeconfig for `user` (a client certificate of the PKI), with everything embedded. */
export function kubeconfig(pki: Pki, server: string, user: string, certName: string): string {
  const b64 = (f: string) => readFileSync(f).toString('base64');
  const { crt, key } = pki.cert(certName);
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: loadscope',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(pki.ca.crt)}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(crt)}`,
    `    client-key-data: ${b64(key)}`,
    'contexts:',
    '- name: loadscope',
    '  context:',
    '    cluster: loadscope',
    `    user: ${user}`,
    'current-context: loadscope',
    '',
  ].join('\n');
}
