/**
 * ACS validations per second, side by side, in one process on 127.0.0.1 data:
 *   - samlify alone: ServiceProvider.parseLoginResponse on a signed assertion (the baseline);
 *   - Gatehouse: the full ACS validation (our checks, xmllint schema in a child process,
 *     samlify's second opinion, replay cache) on a signed assertion, and on a signed and
 *     encrypted one;
 *   - OIDC callback CPU work: verifying an RS256 ID token against an imported JWKS key (jose),
 *     what an OIDC callback does after its token request (the network round trip is excluded).
 * Every response is distinct (fresh IDs), so the schema memo never hits. Bounded: each phase
 * runs at most PHASE_MS or COUNT operations. Prints a markdown table with ratios and RSS; a
 * phase that throws shows "FAILED: <message>" in its row and the next phase runs.
 *
 *   npx tsx bench/saml.ts
 */
import { generateKeyPair, exportJWK, SignJWT, jwtVerify, importJWK } from 'jose';
import samlify from 'samlify';
import { startOfflineSp } from '../test/helpers/gateways/saml-offline-sp.js';
import { tryRow, type RowResult } from './lib/rows.js';

const COUNT = Number(process.env.BENCH_COUNT ?? 300);
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 6000);

interface Row {
  name: string;
  result: RowResult<{ ops: number; perSecond: number; rssMiB: number }>;
}

async function measure(name: string, inputs: unknown[], op: (input: unknown) => Promise<unknown>): Promise<Row> {
  return { name, result: await tryRow(name, () => timed(inputs, op)) };
}

async function timed(inputs: unknown[], op: (input: unknown) => Promise<unknown>) {
  for (const input of inputs.slice(0, 5)) await op(input); // warm-up
  const started = performance.now();
  let ops = 0;
  for (const input of inputs.slice(5)) {
    await op(input);
    ops++;
    if (performance.now() - started > PHASE_MS) break;
  }
  const seconds = (performance.now() - started) / 1000;
  return { ops, perSecond: ops / seconds, rssMiB: process.memoryUsage().rss / 1048576 };
}

async function main() {
  const { idp, connector, close } = startOfflineSp('bench');
  const spMetadata = connector.spMetadata();
  const rssStart = process.memoryUsage().rss / 1048576;

  process.stderr.write(`generating ${COUNT} signed and ${COUNT} signed+encrypted responses...\n`);
  const attributes = [
    ['uid', 'alice'],
    ['groups', ['a', 'b']],
  ] as const;
  const signed: string[] = [];
  const encrypted: string[] = [];
  const forSamlify: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    signed.push((await idp.response({ spMetadata, inResponseTo: '_req', attributes })).encoded);
    encrypted.push((await idp.response({ spMetadata, inResponseTo: '_req', attributes, encrypt: true })).encoded);
    forSamlify.push((await idp.response({ spMetadata, inResponseTo: '_req', attributes })).encoded);
  }

  // Baseline: samlify alone, the same kind of response, same validator (memo never hits: distinct texts).
  const sp = samlify.ServiceProvider({
    entityID: connector.entityId,
    assertionConsumerService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: connector.acsUrl }],
  });
  const samlifyIdp = samlify.IdentityProvider({ metadata: idp.metadata() });
  const rows: Row[] = [];
  rows.push(
    await measure('samlify parseLoginResponse (signed assertion)', forSamlify, (r) => sp.parseLoginResponse(samlifyIdp, 'post', { body: { SAMLResponse: r } })),
  );
  const acs = (r: unknown) =>
    connector.finishLogin({ callbackUrl: new URL(connector.acsUrl), state: '', pending: { requestId: '_req' }, form: { SAMLResponse: r as string } });
  rows.push(await measure('Gatehouse ACS validation (signed assertion)', signed, acs));
  rows.push(await measure('Gatehouse ACS validation (signed + encrypted)', encrypted, acs));

  // OIDC callback CPU work: an RS256 ID token verified with an already imported key.
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const key = await importJWK(await exportJWK(publicKey), 'RS256');
  const tokens: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    tokens.push(
      await new SignJWT({ nonce: `n${i}`, email: 'alice@example.com' })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer('http://127.0.0.1:1/idp')
        .setAudience('gatehouse')
        .setSubject('alice')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey),
    );
  }
  rows.push(
    await measure('OIDC ID-token verification (jose RS256)', tokens, (t) =>
      jwtVerify(t as string, key, { issuer: 'http://127.0.0.1:1/idp', audience: 'gatehouse' }),
    ),
  );

  const base = rows[0].result.ok ? rows[0].result.value.perSecond : NaN;
  console.log(`\n| operation | ops | ops/s | vs samlify alone | RSS after (MiB) |`);
  console.log(`|---|---:|---:|---:|---:|`);
  for (const { name, result: r } of rows) {
    if (r.ok)
      console.log(
        `| ${name} | ${r.value.ops} | ${r.value.perSecond.toFixed(0)} | ${Number.isFinite(base) ? `${(r.value.perSecond / base).toFixed(2)}×` : 'n/a'} | ${r.value.rssMiB.toFixed(0)} |`,
      );
    else console.log(`| ${name} | ${r.cell} | | | |`);
  }
  if (rows.some((r) => !r.result.ok)) process.exitCode = 1;
  console.log(
    `\nRSS at start ${rssStart.toFixed(0)} MiB, at end ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB; load average ${(await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  await close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
