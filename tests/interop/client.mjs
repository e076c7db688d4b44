// Drives oauth4webapi and jose, unmodified, against a real keyturn.
// Usage: node client.mjs '<json>' where json = {"cmd": ..., ...}; prints one
// JSON object: {"ok": true, ...} or {"ok": false, "error": ..., "code": ...}.
// Each command is one scenario of tests/interop/test_oauth4webapi.py.
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import * as readline from 'node:readline';

const args = JSON.parse(process.argv[2]);
const insecure = { [oauth.allowInsecureRequests]: true }; // plain http on loopback, tests only

async function discover(issuer) {
  const url = new URL(issuer);
  const response = await oauth.discoveryRequest(url, { algorithm: 'oauth2', ...insecure });
  return oauth.processDiscoveryResponse(url, response);
}

function clientAuth(a) {
  if (a.client_auth === 'basic') return oauth.ClientSecretBasic(a.client_secret);
  if (a.client_auth === 'post') return oauth.ClientSecretPost(a.client_secret);
  return oauth.None();
}

// keyturn binds a session to a key at /auth/login (its own endpoint, not an
// OAuth grant): the proof for it is made with jose from the same key pair.
async function loginProof(keyPair, alg, url, nonce) {
  const jwk = await jose.exportJWK(keyPair.publicKey);
  const claims = { htm: 'POST', htu: url, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000) };
  if (nonce) claims.nonce = nonce;
  return new jose.SignJWT(claims).setProtectedHeader({ alg, typ: 'dpop+jwt', jwk }).sign(keyPair.privateKey);
}

async function resourceProof(keyPair, alg, method, url, accessToken) {
  const jwk = await jose.exportJWK(keyPair.publicKey);
  const ath = jose.base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))));
  const claims = { htm: method, htu: url, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000), ath };
  return new jose.SignJWT(claims).setProtectedHeader({ alg, typ: 'dpop+jwt', jwk }).sign(keyPair.privateKey);
}

async function dpopLogin(base, keyPair, alg, username, password) {
  const url = `${base}/auth/login`;
  let nonce;
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', dpop: await loginProof(keyPair, alg, url, nonce) },
      body: JSON.stringify({ username, password }),
    });
    const body = await r.json();
    if (r.status === 400 && body.error === 'use_dpop_nonce' && attempt === 0) {
      nonce = r.headers.get('dpop-nonce');
      continue;
    }
    if (r.status !== 200) throw new Error(`login: ${r.status} ${JSON.stringify(body)}`);
    return body;
  }
}

// RFC 9449 §8: a use_dpop_nonce answer is retried once (oauth4webapi keeps the nonce).
async function onceMore(call) {
  try {
    return await call();
  } catch (err) {
    if (oauth.isDPoPNonceError(err)) return call();
    throw err;
  }
}

async function refresh(a) {
  const as = await discover(a.issuer);
  const client = { client_id: a.client_id ?? 'interop-app' };
  let DPoP, keyPair, refreshToken = a.refresh_token;
  if (a.dpop) {
    keyPair = await oauth.generateKeyPair(a.dpop);
    const login = await dpopLogin(a.base, keyPair, a.dpop, a.username, a.password);
    refreshToken = login.refresh_token;
    DPoP = oauth.DPoP(client, keyPair);
  }
  const tokens = await onceMore(async () => oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth(a), refreshToken, { DPoP, ...insecure })));
  // A challenge (e.g. a nonce demand, RFC 9449 §9) throws; onceMore retries it.
  const me = await onceMore(async () => oauth.protectedResourceRequest(tokens.access_token, 'GET',
    new URL(`${a.base}/auth/me`), new Headers(), null, { DPoP, ...insecure }));
  const out = { ok: true, token_type: tokens.token_type, me_status: me.status, refresh_token: tokens.refresh_token,
    access_token: tokens.access_token, proof_alg: a.dpop ?? null };
  if (a.dpop && a.validate) {
    // RFC 9068 + RFC 9449 §7.1 at a resource server: oauth4webapi's own validator.
    const rsUrl = 'http://rs.example/data';
    const request = new Request(rsUrl, { headers: {
      authorization: `DPoP ${tokens.access_token}`,
      dpop: await resourceProof(keyPair, a.dpop, 'GET', rsUrl, tokens.access_token) } });
    try {
      const claims = await oauth.validateJwtAccessToken(as, request, a.audience, insecure);
      out.validated = { sub: claims.sub, cnf: claims.cnf, client_id: claims.client_id };
    } catch (err) {
      out.validate_error = `${err.name}: ${err.message}`;
    }
  }
  return out;
}

async function revoke(a) {
  const as = await discover(a.issuer);
  const client = { client_id: a.client_id ?? 'interop-app' };
  const r = await oauth.revocationRequest(as, client, clientAuth(a), a.token, insecure);
  await oauth.processRevocationResponse(r);
  return { ok: true };
}

async function introspect(a) {
  const as = await discover(a.issuer);
  const client = { client_id: a.client_id };
  const r = await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(a.client_secret), a.token, insecure);
  return { ok: true, result: await oauth.processIntrospectionResponse(as, client, r) };
}

async function validateBearer(a) {
  const as = await discover(a.issuer);
  const request = new Request('http://rs.example/data', { headers: { authorization: `Bearer ${a.access_token}` } });
  const claims = await oauth.validateJwtAccessToken(as, request, a.audience, insecure);
  return { ok: true, sub: claims.sub, client_id: claims.client_id };
}

// jose across a key rotation: one remote JWKS for the process's life; the
// driver rotates the key while we wait on stdin for the new token.
async function joseRotation(a) {
  const JWKS = jose.createRemoteJWKSet(new URL(a.jwks_uri), { cooldownDuration: 0 });
  const verify = async (token) => {
    const { payload, protectedHeader } = await jose.jwtVerify(token, JWKS, { issuer: a.issuer, audience: a.audience, typ: 'at+jwt' });
    return { kid: protectedHeader.kid, alg: protectedHeader.alg, sid: payload.sid };
  };
  const before = await verify(a.token);
  process.stdout.write(JSON.stringify({ ready: true, before }) + '\n');
  const lines = readline.createInterface({ input: process.stdin });
  const next = (await lines[Symbol.asyncIterator]().next()).value;
  lines.close();
  const after = await verify(next);
  const old = await verify(a.token); // the old key is still published: its token still verifies
  return { ok: true, before, after, old };
}

const commands = { discover: async (a) => ({ ok: true, as: await discover(a.issuer) }), refresh, revoke, introspect,
  validate_bearer: validateBearer, jose_rotation: joseRotation };

try {
  const out = await commands[args.cmd](args);
  process.stdout.write(JSON.stringify(out) + '\n');
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, error: `${err.name}: ${err.message}`, code: err.code ?? null,
    oauth_error: err.error ?? null, status: err.status ?? null,
    challenge: Array.isArray(err.cause) ? err.cause[0]?.scheme ?? null : null }) + '\n');
}
