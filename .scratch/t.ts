import { readFileSync, writeFileSync } from 'node:fs';
import { generateEd25519, parsePublicKeyLine, publicKeyLine, openSshPrivateKey, publicKeyOf } from '../src/ssh-ca/keys.js';
import { signCertificate, parseCertificate, checkCertificate, USER_CERT } from '../src/ssh-ca/certs.js';
const D = '/tmp/certtest/';
const ca = generateEd25519();
for (const f of ['user','rsa','ec']) {
const pk = parsePublicKeyLine(readFileSync(D+f+'.pub','utf8'));
const now = Math.floor(Date.now()/1000);
const cert = signCertificate(ca, { publicKey: pk, type: USER_CERT, keyId: 'alice', principals: ['root','ubuntu'], validAfter: now-60, validBefore: now+3600, extensions: {'permit-pty': ''}, criticalOptions: {'x@y': 'v'} });
writeFileSync(D+f+'-cert.pub', `${cert.certType} ${cert.blob.toString('base64')} alice\n`);
const p = parseCertificate(cert.blob);
await checkCertificate(p, { trustedCas: [publicKeyOf(ca).blob], type: USER_CERT, now, knownCriticalOptions: ['x@y'] });
console.log(f, 'ok', p.principals, p.criticalOptions, p.extensions);
}
const k = generateEd25519();
writeFileSync(D+'gen', openSshPrivateKey(k, 'c'), {mode: 0o600});
writeFileSync(D+'gen.pub', publicKeyLine(publicKeyOf(k)) + '\n');
