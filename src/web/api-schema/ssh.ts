/** SSH: the CA lines, the caller's nodes, user certificates and their revocation. */
import { z } from 'zod';
import type { Revocation } from '../../ssh-ca/revocation.js';
import { CA_KINDS, ROTATION_PHASES } from '../../ssh-ca/rotation.js';
import { errors, json, text, UNAUTHENTICATED, type ApiOperation } from './operation.js';
import { schemaOf } from './typed.js';

const SERIAL = /^\d{1,20}$/;

export const sshNodes = z
  .object({
    nodes: z.array(z.object({ name: z.string(), labels: z.record(z.string(), z.string()), logins: z.array(z.string()) })),
    proxy: z.string().nullable().describe('host:port of the SSH listener (`ssh -J`); null when SSH is not configured.'),
  })
  .meta({ description: 'The nodes the caller may reach, with the logins allowed on each.' });
export type SshNodes = z.infer<typeof sshNodes>;

export const sshCertRequest = z.object({ public_key: z.string().describe('An OpenSSH public key line (`ssh-ed25519 AAAA... comment`).') });

export const sshCertIssued = z
  .object({
    certificate: z.string().describe('The OpenSSH user certificate line, for `<key>-cert.pub`.'),
    serial: z.string().regex(SERIAL).describe('Decimal; what `POST /api/v1/ssh/certs/revoke` takes.'),
    key_fingerprint: z.string(),
    principals: z.array(z.string()).describe('The logins the certificate is valid for.'),
    valid_after: z.iso.datetime(),
    valid_before: z.iso.datetime(),
    extensions: z.array(z.string()).describe('The `permit-*` extensions granted.'),
    known_hosts: z.string().describe('The `@cert-authority` line that makes clients trust the gateway and the caller’s nodes.'),
    proxy: z.string().nullable(),
  })
  .meta({ description: 'A signed user certificate.' });
export type SshCertIssued = z.infer<typeof sshCertIssued>;

const revocation = schemaOf<Revocation>()(
  z.union([
    z.object({ serial: z.string(), user: z.string() }),
    z.object({ user: z.string(), issued_up_to: z.number().int().describe('Every certificate of the user issued up to this second (epoch) is revoked.') }),
  ]),
);
export const sshRevoked = z.object({ revoked: revocation }).meta({ description: 'What was revoked.' });
export type SshRevoked = z.infer<typeof sshRevoked>;

const sshRevokeRequest = z
  .union([z.strictObject({ serial: z.string().regex(SERIAL) }), z.strictObject({ user: z.string().min(1) })])
  .describe('One certificate by serial, or every certificate of a person issued until now.');

const caStatus = z
  .object({
    kind: z.enum(CA_KINDS),
    phase: z.enum(['standby', 'init', 'switch']),
    since: z.iso.datetime().optional().describe('When the phase began; absent in standby.'),
    signing: z.string().describe('Fingerprint (`SHA256:…`) of the key that signs now.'),
    published: z.array(z.object({ fingerprint: z.string(), role: z.enum(['signing', 'next', 'previous']), line: z.string() })),
    finish_after: z.iso.datetime().optional().describe('In switch: from when `finish` is allowed without `force` (the overlap has passed).'),
  })
  .meta({ description: 'One SSH CA’s rotation state (docs/ssh.md, "Rotating the SSH CAs").' });

const caRotation = z
  .object({ overlap_ms: z.number().int().describe('How long the old key stays published after switch.'), cas: z.array(caStatus) })
  .meta({ description: 'The rotation state of both SSH CAs.' });

const caRotateRequest = z.strictObject({ kind: z.enum(CA_KINDS), phase: z.enum(ROTATION_PHASES), force: z.boolean().optional() });

export const sshOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/api/v1/ssh/ca',
    tag: 'ssh',
    summary: 'A CA line: TrustedUserCAKeys for nodes (user), or @cert-authority for clients (host)',
    description: 'Signed in, the host line also covers the nodes the caller may reach (never `*`).',
    auth: 'optional',
    query: z.object({ type: z.enum(['user', 'host']).default('user') }),
    responses: {
      200: text('The line.', 'text/plain', 'One line, ending in a newline.'),
      ...errors({ 400: '`type` is neither user nor host (`invalid_request`).' }),
    },
  },
  {
    method: 'get',
    path: '/api/v1/ssh/ca/rotation',
    tag: 'ssh',
    summary: 'The rotation state of the user and host CAs',
    auth: 'none',
    responses: { 200: json('Both CAs.', 'SshCaRotation', caRotation) },
  },
  {
    method: 'post',
    path: '/api/v1/ssh/ca/rotate',
    tag: 'ssh',
    summary: 'Run one rotation phase of a CA (a role with `ssh_ca_admin: true`; audited as ssh.ca.rotate)',
    auth: 'principal',
    body: { media: 'application/json', schema: caRotateRequest, required: true },
    responses: {
      200: json('The CA after the phase.', 'SshCaStatus', caStatus),
      ...errors({
        400: 'Not a kind and phase (`invalid_request`).',
        ...UNAUTHENTICATED,
        403: 'The caller has no role with `ssh_ca_admin: true` (`ssh_ca_forbidden`, audited as access.denied).',
        409: 'The phase does not follow the current one (`ssh_ca_phase`), finish before the overlap has passed (`ssh_ca_overlap`), or another phase is running (`ssh_ca_busy`).',
      }),
    },
  },
  {
    method: 'get',
    path: '/api/v1/ssh/nodes',
    tag: 'ssh',
    summary: 'The nodes the caller may reach, and the logins allowed on each',
    auth: 'principal',
    responses: { 200: json('The nodes.', 'SshNodes', sshNodes), ...errors(UNAUTHENTICATED) },
  },
  {
    method: 'post',
    path: '/api/v1/ssh/certs',
    tag: 'ssh',
    summary: 'Sign the caller’s public key: a short-lived user certificate (audited as ssh.cert.issued)',
    auth: 'principal',
    body: { media: 'application/json', schema: sshCertRequest, required: true },
    responses: {
      201: json('The certificate.', 'SshCertIssued', sshCertIssued),
      ...errors({
        400: 'Not an OpenSSH public key line, or a refused key type (`invalid_public_key`).',
        401: `${UNAUTHENTICATED[401]} Or the session has expired (\`session_expired\`).`,
        403: 'The caller’s roles allow no SSH login (`no_ssh_logins`).',
      }),
    },
  },
  {
    method: 'post',
    path: '/api/v1/ssh/certs/revoke',
    tag: 'ssh',
    summary: 'Revoke a certificate, or every certificate of a person (audited as ssh.cert.revoked)',
    description: 'Everyone may revoke their own; a role with `ssh_revoke: true` anyone’s. Connections made with a revoked certificate end on every replica.',
    auth: 'principal',
    body: { media: 'application/json', schema: sshRevokeRequest, required: true },
    responses: {
      200: json('The revocation.', 'SshRevoked', sshRevoked),
      ...errors({
        400: 'Neither a decimal serial nor a user (`invalid_request`).',
        ...UNAUTHENTICATED,
        403: 'Someone else’s certificates, without `ssh_revoke` (`revoke_forbidden`).',
        404: 'No unexpired certificate of the caller has this serial (`cert_unknown`), or SSH is not configured.',
      }),
    },
  },
];
