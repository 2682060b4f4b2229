import { readFile } from 'node:fs/promises';
import { isGatehouseError } from '../../core/errors.js';
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../../core/logger.js';
import { isLoopbackHost } from '../../core/hosts.js';
import { checkNoDtd } from './checks/dtd.js';
import { samlError } from './errors.js';
import { NS, attr, child, children, descendants, parseXml, textOf } from './xml.js';

/** What we use from an IdP's metadata. */
export interface IdpMetadata {
  entityId: string;
  /** PEM certificates that may sign responses and logout messages (several during rollover). */
  signingCerts: string[];
  /** HTTP-Redirect SingleSignOnService. */
  ssoRedirectUrl: string;
  /** HTTP-Redirect SingleLogoutService, when the IdP has one. */
  sloRedirectUrl?: string;
  sloRedirectResponseUrl?: string;
  wantAuthnRequestsSigned: boolean;
  nameIdFormats: string[];
}

const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const MAX_METADATA_BYTES = 1024 * 1024;

export const toPem = (base64: string): string =>
  `-----BEGIN CERTIFICATE-----\n${base64.replace(/\s+/g, '').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

/** Parses an EntityDescriptor with an IDPSSODescriptor (DTDs refused, certificates checked to parse). */
export function parseIdpMetadata(xml: string): IdpMetadata {
  checkNoDtd(xml);
  let doc: Document;
  try {
    doc = parseXml(xml);
  } catch (err) {
    throw invalid('it is not well-formed XML', err);
  }
  let entity: Element = doc.documentElement;
  if (entity.namespaceURI === NS.metadata && entity.localName === 'EntitiesDescriptor') {
    const withIdp = children(entity, NS.metadata, 'EntityDescriptor').filter((e) => child(e, NS.metadata, 'IDPSSODescriptor'));
    if (withIdp.length !== 1) throw invalid('it must describe exactly one IdP');
    entity = withIdp[0];
  }
  if (entity.namespaceURI !== NS.metadata || entity.localName !== 'EntityDescriptor') throw invalid('no EntityDescriptor');
  const entityId = attr(entity, 'entityID');
  const idp = child(entity, NS.metadata, 'IDPSSODescriptor');
  if (!entityId || !idp) throw invalid('no entityID or IDPSSODescriptor');
  const signingCerts = children(idp, NS.metadata, 'KeyDescriptor')
    .filter((k) => (attr(k, 'use') ?? 'signing') === 'signing')
    .flatMap((k) => [...descendants(k)].filter((e) => e.namespaceURI === NS.dsig && e.localName === 'X509Certificate'))
    .map((c) => toPem(textOf(c) ?? ''));
  for (const pem of signingCerts) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw invalid('a signing certificate does not parse', err);
    }
  }
  if (signingCerts.length === 0) throw invalid('it has no signing certificate');
  const service = (name: string) => children(idp, NS.metadata, name).find((s) => attr(s, 'Binding') === REDIRECT);
  const sso = service('SingleSignOnService');
  const slo = service('SingleLogoutService');
  const ssoRedirectUrl = attr(sso, 'Location');
  if (!ssoRedirectUrl) throw invalid('it has no HTTP-Redirect SingleSignOnService');
  return {
    entityId,
    signingCerts: [...new Set(signingCerts)],
    ssoRedirectUrl,
    sloRedirectUrl: attr(slo, 'Location'),
    sloRedirectResponseUrl: attr(slo, 'ResponseLocation') ?? attr(slo, 'Location'),
    wantAuthnRequestsSigned: attr(idp, 'WantAuthnRequestsSigned') === 'true',
    nameIdFormats: children(idp, NS.metadata, 'NameIDFormat').map((n) => textOf(n) ?? ''),
  };
}

const invalid = (why: string, cause?: unknown) => samlError('saml_metadata_invalid', `The identity provider's SAML metadata is unusable: ${why}.`, { cause });

/**
 * IdP metadata from a file (read once) or a URL: fetched lazily with a timeout, cached, and
 * refreshed every `refreshMs`. A failed refresh keeps the last good copy (and is retried on the
 * next use after a short back-off), so an IdP outage does not end logins that would still work.
 */
export function createMetadataSource(options: { url?: string; file?: string; refreshMs: number; timeoutMs?: number; logger?: Logger }): {
  get(): Promise<IdpMetadata>;
} {
  let current: { at: number; metadata: IdpMetadata } | undefined;
  let inflight: Promise<IdpMetadata> | undefined;
  let failedAt = 0;

  const load = async (): Promise<IdpMetadata> => {
    if (options.file) return parseIdpMetadata(await readFile(options.file, 'utf8'));
    const url = new URL(options.url!);
    if (url.protocol !== 'https:' && !isLoopbackHost(url.hostname)) throw invalid('plain http is allowed only on loopback');
    const res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 10_000), redirect: 'error' });
    if (!res.ok) throw new Error(`metadata fetch answered ${res.status}`);
    const length = Number(res.headers.get('content-length') ?? 0);
    if (length > MAX_METADATA_BYTES) throw invalid('it is larger than 1 MiB');
    const text = await res.text();
    if (text.length > MAX_METADATA_BYTES) throw invalid('it is larger than 1 MiB');
    return parseIdpMetadata(text);
  };

  return {
    async get() {
      const now = Date.now();
      const fresh = current && (options.file || now - current.at < options.refreshMs);
      if (fresh) return current!.metadata;
      if (current && now - failedAt < 30_000) return current.metadata;
      inflight ??= load()
        .then((metadata) => {
          current = { at: Date.now(), metadata };
          return metadata;
        })
        .catch((err) => {
          failedAt = Date.now();
          if (current) {
            options.logger?.warn({ err: (err as Error).message }, 'SAML IdP metadata refresh failed; keeping the cached copy');
            return current.metadata;
          }
          if (isGatehouseError(err)) throw err;
          throw samlError('idp_unavailable', 'The identity provider is not reachable right now.', { cause: err });
        })
        .finally(() => {
          inflight = undefined;
        });
      return inflight;
    },
  };
}
