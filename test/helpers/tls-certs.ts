// Certificates made by the test itself with the openssl CLI: a private CA and a relay leaf for 127.0.0.1 and localhost.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  /** The private CA's certificate (what clients get with --ca). */
  readonly caCert: string;
  /** The relay's certificate (signed by the CA) and its key. */
  readonly relayCert: string;
  readonly relayKey: string;
  /** A key that is not the relay certificate's (for the mismatch refusal). */
  readonly otherKey: string;
}

function openssl(cwd: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes a P-256 CA and a relay certificate valid for 30 days for IP 127.0.0.1 and DNS localhost, in `dir`. */
export function makeTestCertificates(dir: string): TestCertificates {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=Hotline test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(dir, ['req', ...ec, '-keyout', 'relay.key', '-out', 'relay.csr', '-subj', '/CN=localhost']);
  writeFileSync(
    join(dir, 'relay.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  openssl(dir, ['x509', '-req', '-in', 'relay.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'relay.crt', '-days', '30', '-extfile', 'relay.ext']);
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key']);
  return { caCert: join(dir, 'ca.pem'), relayCert: join(dir, 'relay.crt'), relayKey: join(dir, 'relay.key'), otherKey: join(dir, 'other.key') };
}
