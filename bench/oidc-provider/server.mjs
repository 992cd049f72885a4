// The reference anchor for bench/token_endpoint.py: node-oidc-provider configured as
// closely as it allows to what hws does at its token endpoint —
//   * one client, authenticated by private_key_jwt with ES256 (its public JWK is registered),
//   * grant_type=client_credentials only,
//   * access tokens are JWTs (RFC 9068, typ at+jwt) signed ES256 by the provider's key,
//   * client assertions are single use (oidc-provider's ReplayDetection): by default in its
//     development-only memory adapter (an LRU of about 1,000-2,000 entries, lost on restart);
//     with --replay-store FILE in sqlite_adapter.mjs, on disk (SQLite, WAL, synchronous=FULL,
//     group commit in a worker thread) before the token is answered, as hws does.
//
//   * DPoP (RFC 9449; on by default in oidc-provider 9): a token request with a DPoP proof
//     gets a token bound to the proof's key (cnf.jkt, token_type DPoP); the proofs' jti are
//     single use in the same replay store; --dpop --dpop-nonce also requires its nonce.
//
// Usage (the benchmark starts it; nothing else is needed):
//   node server.mjs --port 4100 --client-id bench --client-jwk client.jwk.json [--replay-store replay.db] [--dpop [--dpop-nonce]]
// tests/e2e/test_dpop_interop.py starts it too (only the oidc-provider package is needed
// then: the SQLite adapter is loaded only with --replay-store).
// It prints one line "ready <issuer>" on stdout once it listens.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';


const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '4100' },
    host: { type: 'string', default: '127.0.0.1' },
    'client-id': { type: 'string', default: 'bench' },
    'client-jwk': { type: 'string' },
    'replay-store': { type: 'string' },
    dpop: { type: 'boolean', default: false },
    'dpop-nonce': { type: 'boolean', default: false },
  },
});

if (!args['client-jwk']) {
  console.error('--client-jwk FILE (the client public JWK, JSON) is required');
  process.exit(2);
}

const port = Number(args.port);
const issuer = `http://${args.host}:${port}`;
const resource = `${issuer}/api`;
const clientJwk = JSON.parse(readFileSync(args['client-jwk'], 'utf8'));

// The provider's own ES256 signing key, made fresh at start (like hws' keyring on first start).
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const providerJwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: randomUUID() };

// better-sqlite3 (a native module) is needed only for the durable replay store
const adapter = args['replay-store']
  ? (await import('./sqlite_adapter.mjs')).createSqliteAdapter(args['replay-store'])
  : undefined;

const configuration = {
  ...(adapter ? { adapter } : {}),
  clients: [
    {
      client_id: args['client-id'],
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      id_token_signed_response_alg: 'ES256',
      scope: 'api',
      jwks: { keys: [{ ...clientJwk, alg: 'ES256', use: 'sig' }] },
    },
  ],
  jwks: { keys: [providerJwk] },
  scopes: ['api'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // DPoP is on by default in oidc-provider 9 (feature dPoP); --dpop-nonce adds its nonces
    ...(args.dpop && args['dpop-nonce'] ? { dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true } } : {}),
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      // No `resource` parameter in the request: every token is for the one API.
      defaultResource: async () => resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== resource) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: 'api',
          audience: resource,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  enabledJWA: {
    clientAuthSigningAlgValues: ['ES256'],
  },
  ttl: {
    ClientCredentials: 3600,
  },
};

const provider = new Provider(issuer, configuration);
// oidc-provider logs configuration advice through `debug`; nothing per request.
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const server = provider.listen(port, args.host, () => {
  console.log(`ready ${issuer}`);
});

const stop = () => server.close(async () => {
  if (adapter) await adapter.close();
  process.exit(0);
});
const stopping = () => {
  stop();
  server.closeIdleConnections(); // keep-alive connections of the load generator
};
process.on('SIGTERM', stopping);
process.on('SIGINT', stopping);
