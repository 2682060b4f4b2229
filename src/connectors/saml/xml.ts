import { DOMParser } from '@xmldom/xmldom';

/** XML helpers for the SAML checks: one strict parser, namespace-aware child lookups. */

export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
  xenc: 'http://www.w3.org/2001/04/xmlenc#',
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
} as const;

const ELEMENT_NODE = 1;
const COMMENT_NODE = 8;

export class XmlError extends Error {}

/** Parses XML; any parser warning or error (undefined entity, bad nesting, ...) is fatal. */
export function parseXml(text: string): Document {
  const fail = (msg: string) => {
    throw new XmlError(msg);
  };
  const parser = new DOMParser({ errorHandler: { warning: fail, error: fail, fatalError: fail }, locator: {} });
  const doc = parser.parseFromString(text, 'text/xml') as unknown as Document;
  if (!doc?.documentElement) throw new XmlError('no root element');
  return doc;
}

/** Direct element children, optionally filtered by namespace and local name. */
export function children(el: Element, ns?: string, localName?: string): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType !== ELEMENT_NODE) continue;
    const e = n as Element;
    if (ns !== undefined && e.namespaceURI !== ns) continue;
    if (localName !== undefined && e.localName !== localName) continue;
    out.push(e);
  }
  return out;
}

export const child = (el: Element, ns: string, localName: string): Element | undefined => children(el, ns, localName)[0];

/** Every element below (and including) `root`, depth first. */
export function* descendants(root: Element): Generator<Element> {
  yield root;
  for (const c of children(root)) yield* descendants(c);
}

export function hasComment(root: Node): boolean {
  for (let n = root.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === COMMENT_NODE) return true;
    if (n.nodeType === ELEMENT_NODE && hasComment(n)) return true;
  }
  return false;
}

export const textOf = (el: Element | undefined): string | undefined => (el ? (el.textContent ?? '').trim() : undefined);

export const attr = (el: Element | undefined, name: string): string | undefined => (el && el.hasAttribute(name) ? el.getAttribute(name)! : undefined);
