// Verify the Gatehouse-Jwt-Assertion header in an app behind Gatehouse.
// Needs only `jose` (npm install jose). The JWKS is fetched once and cached; keys are re-fetched
// when a token names an unknown `kid` (key rotation), at most every 30 seconds.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const keySets = new Map();

/**
 * @param {string} token        the Gatehouse-Jwt-Assertion header value
 * @param {{ gatehouseUrl: string, audience: string }} options
 *        gatehouseUrl: Gatehouse's public URL (the issuer); audience: `gatehouse-app:` + the app's `name` in Gatehouse's config
 * @returns {Promise<import('jose').JWTPayload>} claims: sub, email, preferred_username, groups, roles, connector
 */
export async function verifyAssertion(token, { gatehouseUrl, audience }) {
  let jwks = keySets.get(gatehouseUrl);
  if (!jwks) {
    jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', gatehouseUrl));
    keySets.set(gatehouseUrl, jwks);
  }
  const { payload } = await jwtVerify(token, jwks, {
    issuer: gatehouseUrl,
    audience,
    algorithms: ['ES256', 'RS256'],
    requiredClaims: ['sub', 'exp', 'iat'],
    clockTolerance: 5,
  });
  return payload;
}

// Example: a plain node:http app that trusts only the verified assertion.
//
// import { createServer } from 'node:http';
// createServer(async (req, res) => {
//   try {
//     const who = await verifyAssertion(req.headers['gatehouse-jwt-assertion'] ?? '', {
//       gatehouseUrl: 'https://gatehouse.example.com',
//       audience: 'gatehouse-app:grafana',
//     });
//     res.end(`hello ${who.preferred_username} (${who.roles.join(', ')})\n`);
//   } catch {
//     res.writeHead(401).end('not signed in through Gatehouse\n');
//   }
// }).listen(3000);
