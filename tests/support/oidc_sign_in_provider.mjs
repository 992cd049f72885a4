// An OpenID Connect provider people sign in at, for the console's single sign-on tests:
// node-oidc-provider (npm oidc-provider, an OpenID Foundation certified implementation)
// with one confidential client (the console: authorization code, PKCE required,
// client_secret_basic, ES256 ID tokens, RP-initiated logout back to the console) and
// accounts read from a JSON file at every sign-in, so a test can change a person's claims
// between two sign-ins:
//   {"alice": {"password": "...", "claims": {"preferred_username": "alice", "hws_role": "examiner"}}}
// The login page is a tiny one of its own (name and password checked against the file, a
// Cancel button that answers access_denied); consent is given at once (a first-party client).
//
// Usage (tests/support/oidc_sign_in_provider.py starts it):
//   node oidc_sign_in_provider.mjs --port P --issuer http://localhost:P --client-id ID --client-secret S
//        --redirect-uri URL --post-logout-redirect-uri URL --accounts FILE [--no-claims-parameter]
// It prints one line "ready <issuer>" on stdout once it listens.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    'post-logout-redirect-uri': { type: 'string' },
    accounts: { type: 'string' },
    // no claims request parameter: the role comes with a scope of its own (hws), and (as
    // conformIdTokenClaims has it) from the userinfo endpoint only, not in the ID token
    'no-claims-parameter': { type: 'boolean', default: false },
  },
});
const claimsParameter = !args['no-claims-parameter'];

for (const name of ['port', 'issuer', 'client-id', 'client-secret', 'redirect-uri', 'post-logout-redirect-uri', 'accounts']) {
  if (!args[name]) {
    console.error(`--${name} is required`);
    process.exit(2);
  }
}

const accounts = () => JSON.parse(readFileSync(args.accounts, 'utf8'));

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const providerJwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: randomUUID() };

const provider = new Provider(args.issuer, {
  clients: [
    {
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      client_name: 'hws operator console',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [args['redirect-uri']],
      post_logout_redirect_uris: [args['post-logout-redirect-uri']],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [providerJwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  // hws_role is released only when asked for by name (the claims request parameter), or
  // with the scope hws when the provider has no claims parameter
  claims: claimsParameter
    ? { openid: ['sub'], profile: ['preferred_username', 'name'], hws_role: null }
    : { openid: ['sub'], profile: ['preferred_username', 'name'], hws: ['hws_role'] },
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: claimsParameter },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts()[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account.claims }) };
  },
});

const escape = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, title, body, status = 200) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><main><h1>${escape(title)}</h1>${body}</main></body></html>`);
}

function loginForm(res, uid, client, error = '') {
  page(res, 'Sign in to the identity provider', `
<p>${escape(client?.clientName || client?.clientId || '')} asks who you are.</p>
${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
  <label for="username">Username</label> <input id="username" name="username" autocomplete="username" required>
  <label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escape(uid)}/cancel"><button type="submit">Cancel</button></form>`, error ? 401 : 200);
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(req, res, uid, step) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const client = await provider.Client.find(details.params.client_id);
  const { prompt } = details;
  if (step === 'cancel' && req.method === 'POST') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'The person cancelled the sign-in',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'login') {
    if (step === 'login' && req.method === 'POST') {
      const form = await body(req);
      const account = accounts()[form.get('username')];
      if (!account || account.password !== form.get('password')) {
        loginForm(res, uid, client, 'The username or the password is not right.');
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: form.get('username') } }, { mergeWithLastSubmission: false });
      return;
    }
    loginForm(res, uid, client);
    return;
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scope] of Object.entries(missing.missingResourceScopes)) grant.addResourceScope(indicator, scope.join(' '));
    }
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    return;
  }
  page(res, 'Not supported', `<p>prompt ${escape(prompt.name)}</p>`, 501);
}

const handle = provider.callback();
const server = createServer((req, res) => {
  const match = new URL(req.url, args.issuer).pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|cancel))?$/);
  if (!match) {
    handle(req, res);
    return;
  }
  interaction(req, res, match[1], match[2]).catch((error) => {
    console.error(error);
    if (!res.headersSent) page(res, 'Error', `<p>${escape(error.message)}</p>`, 500);
  });
});

server.listen(Number(args.port), args.host, () => {
  console.log(`ready ${args.issuer}`);
});
