// Alibaba's Node.js SDK `ali-oss` (6.x) as a peer of the built-in OSS emulator and the callback flow.
//
// Run by tests/peers/run with PEERS_API, PEERS_OSS_ENDPOINT (http://127.0.0.1:PORT), PEERS_AK and
// PEERS_SK set. ali-oss refuses to presign for an IP endpoint, so it is given
// `http://localhost:PORT`: path style with `sldEnable`, or virtual-host style
// (`{bucket}.localhost:PORT`, which is sent to 127.0.0.1 with that Host header, as no resolver
// here knows `*.localhost`). Prints `PASS name` / `FAIL name: why` per check and a last line
// `RESULT passed=N failed=M`.
'use strict';

const assert = require('assert');
const crypto = require('crypto');
const http = require('http');
const path = require('path');
const OSS = require(path.join(__dirname, 'node_modules', 'ali-oss'));

const API = process.env.PEERS_API.replace(/\/$/, '');
const EMULATOR = new URL(process.env.PEERS_OSS_ENDPOINT);
const AK = process.env.PEERS_AK || 'LTAI-local-development';
const SK = process.env.PEERS_SK || 'dev-only-oss-access-key-secret';
const LOCALHOST = `http://localhost:${EMULATOR.port}`;

const results = { passed: 0, failed: 0 };
const checks = [];
const check = (name, fn) => checks.push([name, fn]);

function png(extra) {
  const size = Buffer.alloc(8);
  size.writeUInt32BE(3, 0);
  size.writeUInt32BE(2, 4);
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR', 'latin1'),
    size,
    Buffer.from([8, 6, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]),
    Buffer.from(`peer upload ${extra || ''}`),
  ]);
}

// ---------------------------------------------------------------- the service's side

async function api(method, route, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(`${API}${route}`, { method, headers, body: body && JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null, text };
}

let TOKEN;
async function login() {
  const body = { username: `alioss-${crypto.randomBytes(6).toString('hex')}`, password: 'correct horse battery' };
  const reg = await api('POST', '/v1/auth/register', body);
  assert.ok([200, 201].includes(reg.status), reg.text);
  const tok = await api('POST', '/v1/auth/token', body);
  assert.strictEqual(tok.status, 200, tok.text);
  TOKEN = tok.json.access_token;
}

async function credential(opts = {}) {
  const body = {
    profile: opts.profile || 'chat-image',
    filename: opts.filename || 'me.png',
    content_type: opts.contentType || 'image/png',
    size: opts.size,
  };
  if (opts.vars) body.vars = opts.vars;
  const r = await api('POST', '/v1/uploads', body, TOKEN);
  assert.strictEqual(r.status, 201, r.text);
  return r.json;
}

async function record(uploadId) {
  const r = await api('GET', `/v1/me/uploads/${uploadId}`, null, TOKEN);
  assert.strictEqual(r.status, 200, r.text);
  return r.json;
}

// The callback's answer (relayed by the emulator) and the stored record both show the upload.
async function assertLanded(cred, answer, data, vars) {
  if (typeof answer === 'string' || Buffer.isBuffer(answer)) answer = JSON.parse(answer.toString());
  assert.strictEqual(answer.upload_id, cred.upload_id, JSON.stringify(answer));
  assert.strictEqual(answer.status, 'completed', JSON.stringify(answer));
  assert.strictEqual(answer.key, cred.key);
  assert.strictEqual(answer.size, data.length);
  const rec = await record(cred.upload_id);
  assert.strictEqual(rec.status, 'completed', JSON.stringify(rec));
  assert.strictEqual(rec.source, 'callback');
  assert.strictEqual(rec.size, data.length);
  const md5 = crypto.createHash('md5').update(data).digest('hex').toUpperCase();
  assert.strictEqual(rec.etag.replace(/"/g, '').toUpperCase(), md5);
  assert.deepStrictEqual([rec.image_width, rec.image_height], [3, 2]);
  for (const [k, v] of Object.entries(vars || {})) assert.strictEqual(rec.vars[k], v, JSON.stringify(rec.vars));
}

// ---------------------------------------------------------------- ali-oss

function client(cred, opts = {}) {
  return new OSS({
    region: `oss-${cred.region}`,
    accessKeyId: opts.ak || AK,
    accessKeySecret: opts.sk || SK,
    bucket: cred.bucket,
    endpoint: LOCALHOST,
    secure: false,
    sldEnable: opts.virtualHost ? false : true,
    authorizationV4: !!opts.v4,
    retryMax: 0,
    timeout: 20000,
  });
}

// signatureUrl's `callback` option, from the credential's SDK callback parameters and variables.
function callbackOption(cred) {
  const p = cred.callback_param;
  const customValue = {};
  for (const [k, v] of Object.entries(cred.callback_vars || {})) customValue[k.replace(/^x:/, '')] = v;
  const cb = { url: p.callbackUrl, host: p.callbackHost, body: p.callbackBody, contentType: p.callbackBodyType };
  if (Object.keys(customValue).length) cb.customValue = customValue;
  return cb;
}

// Sends a request to the emulator's address whatever host the URL names (keeping it as Host).
function send(method, url, headers, body) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: EMULATOR.hostname,
        port: EMULATOR.port,
        method,
        path: u.pathname + u.search,
        headers: { ...headers, host: u.host, 'content-length': body ? body.length : 0 },
      },
      res => {
        const chunks = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function ossCode(res) {
  const m = /<Code>([^<]*)<\/Code>/.exec(res.body.toString());
  const rid = /<RequestId>([^<]*)<\/RequestId>/.exec(res.body.toString());
  return { status: res.status, code: m ? m[1] : '', requestId: rid ? rid[1] : '' };
}

function expectRefused(res, status, code) {
  const got = ossCode(res);
  assert.deepStrictEqual([got.status, got.code], [status, code], res.body.toString());
  assert.ok(got.requestId, 'no RequestId');
  assert.strictEqual(res.headers['x-oss-request-id'], got.requestId);
}

async function expectSdkError(promise, status, code) {
  try {
    await promise;
  } catch (e) {
    assert.deepStrictEqual([e.status, e.code], [status, code], `${e.status} ${e.code}: ${e.message}`);
    assert.ok(e.requestId, 'no requestId');
    return e;
  }
  throw new Error(`accepted; expected ${status} ${code}`);
}

const VARS = { caption: 'At the beach, été ☀ & more', conversation_id: 'c-7' };

function forgeHex(sig) {
  return (sig[0] === '0' ? '1' : '0') + sig.slice(1);
}

// ---------------------------------------------------------------- uploads that must land

check('signatureUrl (V1) PUT with callback, path style, sent with fetch', async () => {
  const data = png('v1 path');
  const cred = await credential({ size: data.length, vars: VARS });
  const url = client(cred).signatureUrl(cred.key, {
    method: 'PUT',
    'Content-Type': cred.content_type,
    expires: 600,
    callback: callbackOption(cred),
  });
  assert.ok(url.startsWith(`${LOCALHOST}/${cred.bucket}/`), url);
  const r = await fetch(url, { method: 'PUT', headers: { 'Content-Type': cred.content_type }, body: data });
  const body = await r.text();
  assert.strictEqual(r.status, 200, body);
  await assertLanded(cred, body, data, VARS);
});

check('signatureUrl (V1) PUT with callback, virtual-host style ({bucket}.localhost)', async () => {
  const data = png('v1 vhost');
  const cred = await credential({ size: data.length, vars: VARS });
  const url = client(cred, { virtualHost: true }).signatureUrl(cred.key, {
    method: 'PUT',
    'Content-Type': cred.content_type,
    callback: callbackOption(cred),
  });
  assert.ok(url.startsWith(`http://${cred.bucket}.localhost:${EMULATOR.port}/`), url);
  const r = await send('PUT', url, { 'Content-Type': cred.content_type }, data);
  assert.strictEqual(r.status, 200, r.body.toString());
  await assertLanded(cred, r.body, data);
});

check('signatureUrlV4 PUT with callback and callback-var queries', async () => {
  const data = png('v4 url');
  const cred = await credential({ size: data.length, vars: VARS });
  const queries = { callback: cred.callback, 'callback-var': cred.callback_var };
  const url = await client(cred).signatureUrlV4(
    'PUT',
    600,
    { headers: { 'Content-Type': cred.content_type }, queries },
    cred.key,
  );
  assert.ok(url.includes('x-oss-signature-version=OSS4-HMAC-SHA256'), url);
  const r = await fetch(url, { method: 'PUT', headers: { 'Content-Type': cred.content_type }, body: data });
  const body = await r.text();
  assert.strictEqual(r.status, 200, body);
  await assertLanded(cred, body, data);
});

check('the credential\'s own presigned PUT (V4), sent with fetch', async () => {
  const data = png('issued');
  const cred = await credential({ profile: 'avatar', size: data.length });
  const r = await fetch(cred.put.url, { method: 'PUT', headers: cred.put.headers, body: data });
  const body = await r.text();
  assert.strictEqual(r.status, 200, body);
  await assertLanded(cred, body, data);
});

check('client.put (header-signed V1) with the callback option', async () => {
  const data = png('put v1');
  const cred = await credential({ size: data.length, vars: VARS });
  const res = await client(cred).put(cred.key, data, {
    mime: cred.content_type,
    headers: { 'Content-Type': cred.content_type },
    callback: callbackOption(cred),
  });
  assert.strictEqual(res.res.status, 200);
  await assertLanded(cred, res.data, data);
});

check('client.put (header-signed V4, authorizationV4) with x-oss-callback headers', async () => {
  const data = png('put v4');
  const cred = await credential({ profile: 'avatar', size: data.length });
  const res = await client(cred, { v4: true }).put(cred.key, data, {
    mime: cred.content_type,
    headers: { 'Content-Type': cred.content_type, 'x-oss-callback': cred.callback },
  });
  assert.strictEqual(res.res.status, 200);
  await assertLanded(cred, res.data, data);
  const head = await client(cred, { v4: true }).head(cred.key);
  assert.strictEqual(Number(head.res.headers['content-length']), data.length);
  const got = await client(cred).get(cred.key);
  assert.ok(Buffer.compare(got.content, data) === 0);
});

// ---------------------------------------------------------------- refusals with OSS's codes

check('tampered signatureUrl (V1) signature: 403 SignatureDoesNotMatch', async () => {
  const data = png();
  const cred = await credential({ size: data.length });
  const url = client(cred).signatureUrl(cred.key, { method: 'PUT', 'Content-Type': cred.content_type, callback: callbackOption(cred) });
  const forged = url.replace('Signature=', 'Signature=A');
  expectRefused(await send('PUT', forged, { 'Content-Type': cred.content_type }, data), 403, 'SignatureDoesNotMatch');
  assert.strictEqual((await record(cred.upload_id)).status, 'pending');
});

check('tampered signatureUrlV4 signature: 403 SignatureDoesNotMatch', async () => {
  const data = png();
  const cred = await credential({ size: data.length });
  const url = await client(cred).signatureUrlV4('PUT', 600, { headers: { 'Content-Type': cred.content_type }, queries: { callback: cred.callback } }, cred.key);
  const sig = new URL(url).searchParams.get('x-oss-signature');
  const forged = url.replace(sig, forgeHex(sig));
  expectRefused(await send('PUT', forged, { 'Content-Type': cred.content_type }, data), 403, 'SignatureDoesNotMatch');
});

check('swapped callback in a signatureUrl: 403 SignatureDoesNotMatch', async () => {
  const data = png();
  const cred = await credential({ size: data.length });
  const other = await credential({ size: data.length });
  const url = new URL(client(cred).signatureUrl(cred.key, { method: 'PUT', 'Content-Type': cred.content_type, callback: callbackOption(cred) }));
  const otherUrl = new URL(client(other).signatureUrl(other.key, { method: 'PUT', 'Content-Type': other.content_type, callback: callbackOption(other) }));
  url.searchParams.set('callback', otherUrl.searchParams.get('callback'));
  expectRefused(await send('PUT', url.toString(), { 'Content-Type': cred.content_type }, data), 403, 'SignatureDoesNotMatch');
});

check('wrong access key id (signatureUrl, client.put V1 and V4): 403 InvalidAccessKeyId', async () => {
  const data = png();
  const cred = await credential({ size: data.length });
  const url = client(cred, { ak: 'LTAI-not-our-key' }).signatureUrl(cred.key, { method: 'PUT', 'Content-Type': cred.content_type });
  expectRefused(await send('PUT', url, { 'Content-Type': cred.content_type }, data), 403, 'InvalidAccessKeyId');
  for (const v4 of [false, true]) {
    await expectSdkError(
      client(cred, { ak: 'LTAI-not-our-key', v4 }).put(cred.key, data, { mime: cred.content_type }),
      403,
      'InvalidAccessKeyId',
    );
  }
});

check('wrong secret (client.put V1 and V4): 403 SignatureDoesNotMatch', async () => {
  const data = png();
  const cred = await credential({ size: data.length });
  for (const v4 of [false, true]) {
    await expectSdkError(
      client(cred, { sk: 'not-the-secret', v4 }).put(cred.key, data, { mime: cred.content_type }),
      403,
      'SignatureDoesNotMatch',
    );
  }
});

check('expired signatureUrl: 403 AccessDenied', async () => {
  const data = png();
  const cred = await credential({ size: data.length });
  const url = client(cred).signatureUrl(cred.key, { method: 'PUT', 'Content-Type': cred.content_type, expires: -60 });
  const r = await send('PUT', url, { 'Content-Type': cred.content_type }, data);
  expectRefused(r, 403, 'AccessDenied');
  assert.ok(/expired/i.test(r.body.toString()), r.body.toString());
});

// ---------------------------------------------------------------- STS credentials and multipart

// GET /v1/sts/credentials: STS credentials for every key under the user's prefix.
async function stsCredentials() {
  const r = await api('GET', '/v1/sts/credentials', null, TOKEN);
  assert.strictEqual(r.status, 200, r.text);
  assert.ok(r.json.AccessKeyId.startsWith('STS.'), r.text);
  return r.json;
}

function stsClient(cred, sts, opts = {}) {
  return new OSS({
    region: `oss-${cred.region}`,
    accessKeyId: sts.AccessKeyId,
    accessKeySecret: sts.AccessKeySecret,
    stsToken: sts.SecurityToken,
    bucket: cred.bucket,
    endpoint: LOCALHOST,
    secure: false,
    sldEnable: true,
    authorizationV4: !!opts.v4,
    retryMax: 0,
    timeout: 20000,
  });
}

for (const v4 of [false, true]) {
  check(`multipartUpload with STS credentials (${v4 ? 'V4' : 'V1'}) and the callback option lands the record`, async () => {
    const sts = await stsCredentials();
    const data = Buffer.concat([png('multipart'), crypto.randomBytes(250 * 1024)]);
    const cred = await credential({ profile: 'avatar', size: data.length });
    assert.ok(cred.key.startsWith(sts.prefix), `${cred.key} ${sts.prefix}`);
    const res = await stsClient(cred, sts, { v4 }).multipartUpload(cred.key, data, {
      partSize: 100 * 1024,
      mime: cred.content_type,
      callback: callbackOption(cred),
    });
    assert.strictEqual(res.res.status, 200);
    assert.strictEqual(res.data.upload_id, cred.upload_id, JSON.stringify(res.data));
    assert.strictEqual(res.data.size, data.length);
    const rec = await record(cred.upload_id);
    assert.strictEqual(rec.status, 'completed', JSON.stringify(rec));
    assert.strictEqual(rec.size, data.length);
    assert.ok(/-3"?$/.test(rec.etag), rec.etag);
    const got = await client(cred).get(cred.key);
    assert.ok(Buffer.compare(got.content, data) === 0);
  });
}

check('STS credentials outside the user\'s prefix (put, initMultipartUpload): 403 AccessDenied', async () => {
  const sts = await stsCredentials();
  const cred = await credential({ profile: 'avatar', size: 100 });
  const other = `avatars/someone-else/${crypto.randomBytes(8).toString('hex')}.png`;
  await expectSdkError(stsClient(cred, sts).put(other, png('not mine')), 403, 'AccessDenied');
  await expectSdkError(stsClient(cred, sts, { v4: true }).initMultipartUpload(other), 403, 'AccessDenied');
});

// ----------------------------------------------------------------

(async () => {
  try {
    await login();
  } catch (e) {
    console.log(`FAIL ali-oss: login: ${e.stack || e}`);
    console.log(`RESULT passed=0 failed=${checks.length}`);
    process.exit(1);
  }
  for (const [name, fn] of checks) {
    try {
      await fn();
      results.passed += 1;
      console.log(`PASS ali-oss: ${name}`);
    } catch (e) {
      results.failed += 1;
      console.log(`FAIL ali-oss: ${name}: ${e.stack || e}`);
    }
  }
  console.log(`RESULT passed=${results.passed} failed=${results.failed}`);
  process.exit(results.failed ? 1 : 0);
})();
