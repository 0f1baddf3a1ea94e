// CI: `/docs` and `/ui` in headless Chromium, and the contract through openapi-typescript.
// Run by .ci/browser-check against a running server: BASE, API_KEY (uploads:read), SHOTS (a dir).
//
// /docs: every documented operation is rendered with its method and path; every form field the
// server really sends in `UploadCredential.form.fields` (for every profile) is named; every error
// code the responses of `POST /v1/uploads` name is shown; nothing is fetched from another origin.
// /ui: sign in once, the key lands in an HttpOnly SameSite=Strict cookie, the tables, the chart
// and the spool depth show what was just uploaded; a screenshot of each page is kept.
// Types: the generated client's ErrorCode is exactly the spec's codes, as a closed union.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import openapiTS, { astToString } from "openapi-typescript";
import { chromium } from "playwright-core";
import ts from "typescript";

const base = process.env.BASE;
const apiKey = process.env.API_KEY;
const shots = process.env.SHOTS;
const failures = [];
const check = (ok, message) => {
  if (!ok) failures.push(message);
};

async function api(method, route, { token, json, form } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let body;
  if (json) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(json);
  }
  if (form) body = form;
  const r = await fetch(route.startsWith("http") ? route : base + route, { method, headers, body });
  const text = await r.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: r.status, json: parsed, text };
}

// --- What the contract and the server say -------------------------------------------------
const spec = (await api("GET", "/openapi.json")).json;
const operations = [];
for (const [route, item] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(item)) operations.push({ route, method, id: op.operationId });
}
const allCodes = spec.components.schemas.ErrorCode.enum;
const resolve = (r) => (r.$ref ? spec.components.responses[r.$ref.split("/").pop()] : r);
const uploadCodes = new Set();
for (const r of Object.values(spec.paths["/v1/uploads"].post.responses)) {
  for (const m of (resolve(r).description || "").matchAll(/`([a-z_]+)`/g)) {
    if (allCodes.includes(m[1])) uploadCodes.add(m[1]);
  }
}
check(uploadCodes.size >= 15, `POST /v1/uploads names only ${uploadCodes.size} error codes`);

// A user, and a credential for every profile: the form fields the server really sends.
const user = { username: "browser-check", password: "correct horse battery staple" };
await api("POST", "/v1/auth/register", { json: user });
const token = (await api("POST", "/v1/auth/token", { json: user })).json.access_token;
const profiles = (await api("GET", "/v1/profiles", { token })).json.profiles;
const SUBTYPE = { image: "png", video: "mp4", audio: "mpeg", text: "plain", application: "pdf" };
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d4948445200000001000000010806000000" +
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a6f2a40000000049454e44ae426082",
  "hex",
);
const fieldNames = new Set();
const versions = new Set();
const credentials = [];
for (const p of profiles) {
  let type = p.content_types[0];
  if (type.endsWith("/*")) type = type.replace("*", SUBTYPE[type.split("/")[0]] || "octet-stream");
  const vars = Object.fromEntries(Object.keys(p.vars).map((name) => [name, "x"]));
  const body = { profile: p.name, filename: `f.${type.split("/")[1]}`, content_type: type, size: PNG.length, vars };
  const r = await api("POST", "/v1/uploads", { token, json: body });
  if (r.status !== 201) {
    console.log(`(profile ${p.name}: ${r.status} ${r.text.slice(0, 160)})`);
    continue;
  }
  versions.add(r.json.signature_version);
  credentials.push(r.json);
  for (const f of r.json.form.fields) fieldNames.add(f.name.startsWith("x:") ? "x:<name>" : f.name);
}
check(versions.has("v1") && versions.has("v4"), `credentials for both signature versions, got ${[...versions]}`);

// One upload through the local OSS emulator (it calls back): a completed record for /ui.
const png = credentials.find((c) => c.content_type === "image/png" && c.signature_version === "v4");
check(png, "an image/png profile with V4 signatures");
if (png) {
  const form = new FormData();
  for (const f of png.form.fields) form.append(f.name, f.value);
  form.append(png.form.file_field, new Blob([PNG], { type: "image/png" }), "f.png");
  const r = await api("POST", png.form.action, { form });
  check(r.status === 200, `upload through the emulator answered ${r.status}: ${r.text.slice(0, 200)}`);
}
const pendingIds = credentials.filter((c) => c !== png).map((c) => c.upload_id);

// --- The browser ------------------------------------------------------------------------
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
const foreign = [];
await context.route(
  (url) => url.origin !== new URL(base).origin,
  (route) => {
    foreign.push(route.request().url());
    return route.abort();
  },
);
const pageErrors = [];
const watch = (page, expected) => {
  page.on("pageerror", (e) => pageErrors.push(`${page.url()}: ${e}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !(expected && expected.test(m.text()))) pageErrors.push(`${page.url()}: ${m.text()}`);
  });
};

// A step that throws (a selector that never appears) is a failure, and the others still run.
const step = async (name, body) => {
  try {
    await body();
  } catch (e) {
    failures.push(`${name}: ${String(e.message).split("\n")[0]}`);
  }
};
// Waits for the page a click leads to (same URL or not).
const follow = (page, click) => Promise.all([page.waitForNavigation(), click]);

try {
  await step("/docs", async () => {
    const docs = await context.newPage();
    docs.setDefaultTimeout(20_000);
    // Redoc's sidebar links its logo from cdn.redoc.ly: the CSP blocks it (nothing is fetched; the
    // image hides itself), and Chromium reports that. Any other report is a failure.
    watch(docs, /^Loading the image 'https:\/\/cdn\.redoc\.ly\/redoc\/logo-mini\.svg' violates/);
    const resp = await docs.goto(`${base}/docs`, { waitUntil: "networkidle" });
    check(resp.status() === 200, `/docs answered ${resp.status()}`);
    await docs.waitForSelector('[data-section-id*="operation/createUpload"]', { timeout: 60_000 });
    for (const op of operations) {
      const text = await docs
        .$eval(`[data-section-id$="operation/${op.id}"]`, (e) => e.textContent)
        .catch(() => null);
      check(text !== null, `/docs has no section for ${op.method.toUpperCase()} ${op.route} (${op.id})`);
      if (text === null) continue;
      check(text.toLowerCase().includes(op.method), `/docs: ${op.id} does not show its method ${op.method}`);
      check(text.includes(op.route), `/docs: ${op.id} does not show its path ${op.route}`);
    }
    const create = await docs.$eval('[data-section-id$="operation/createUpload"]', (e) => e.textContent);
    for (const name of fieldNames) {
      check(create.includes(name), `/docs: POST /v1/uploads does not name the form field ${name}`);
    }
    check(fieldNames.size >= 12, `only ${fieldNames.size} form fields seen: ${[...fieldNames]}`);
    for (const code of uploadCodes) {
      check(create.includes(code), `/docs: POST /v1/uploads does not show the error code ${code}`);
    }
    await docs.screenshot({ path: path.join(shots, "docs.png") });
  });

  await step("/ui", async () => {
    const ui = await context.newPage();
    ui.setDefaultTimeout(20_000);
    // The sign-in page answers 401 on purpose; Chromium logs that as a failed load.
    watch(ui, /the server responded with a status of 401/);
    const signIn = await ui.goto(`${base}/ui`);
    check(signIn.status() === 401, `/ui signed out answered ${signIn.status()}`);
    await ui.fill("#api_key", apiKey);
    await follow(ui, ui.click("form[action='/ui/login'] button"));
    check(ui.url() === `${base}/ui` && (await ui.$("#uploads")), `signing in led to ${ui.url()}`);
    const cookie = (await context.cookies(`${base}/ui`)).find((c) => c.name === "upload_signer_ui");
    check(cookie && cookie.httpOnly && cookie.sameSite === "Strict" && cookie.path === "/ui", `cookie: ${JSON.stringify(cookie && { ...cookie, value: "…" })}`);
    check((await ui.evaluate(() => document.cookie)) === "", "the key is visible to scripts");
    check(!(await ui.content()).includes(apiKey), "the page shows the key");
    const ids = async (table) => ui.$$eval(`#${table} tr[data-upload-id]`, (rows) => rows.map((r) => r.dataset.uploadId));
    if (png) check((await ids("uploads")).includes(png.upload_id), "/ui does not list the completed upload");
    const pending = await ids("pending");
    for (const id of pendingIds) check(pending.includes(id), `/ui does not list pending upload ${id}`);
    const today = new Date().toISOString().slice(0, 10);
    const bar = await ui.$(`#per-day rect.bar[data-date="${today}"]:not(.bytes)`);
    check(bar && Number(await bar.getAttribute("data-value")) >= (png ? 1 : 0), "today's bar counts the upload");
    const box = bar && (await bar.boundingBox());
    check(box && box.height > 10, `today's bar is drawn (${JSON.stringify(box)})`);
    check((await ui.textContent("#spool-depth b")) === "0", "/ui shows the spool depth");
    await ui.screenshot({ path: path.join(shots, "ui.png"), fullPage: true });
    const shot = fs.statSync(path.join(shots, "ui.png")).size;
    check(shot > 20_000, `the /ui screenshot is suspiciously small (${shot} bytes)`);

    // A filter through the form, then sign out.
    await ui.selectOption("select[name=status]", "pending");
    await follow(ui, ui.click("form.filters button"));
    check(ui.url().includes("status=pending"), `filtering led to ${ui.url()}`);
    const filtered = await ids("uploads");
    check(pendingIds.length > 0 && pendingIds.every((id) => filtered.includes(id)), `status=pending lists ${filtered}`);
    await follow(ui, ui.click("form[action='/ui/logout'] button"));
    check((await ui.$("#api_key")) !== null, "signed out: the sign-in form again");
    check(!(await context.cookies(`${base}/ui`)).some((c) => c.name === "upload_signer_ui"), "signed out: the cookie is gone");
  });
} finally {
  await browser.close();
}
check(foreign.length === 0, `requests to other origins: ${foreign}`);
check(pageErrors.length === 0, `errors in the pages: ${pageErrors.join("\n")}`);

// --- The generated client's types --------------------------------------------------------
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "openapi-ts-"));
fs.writeFileSync(path.join(dir, "schema.d.ts"), astToString(await openapiTS(new URL(`${base}/openapi.json`))));
fs.writeFileSync(
  path.join(dir, "check.ts"),
  `import type { components, paths } from "./schema";
type ErrorCode = components["schemas"]["Error"]["error"]["code"];
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const every = ${JSON.stringify(allCodes)} as const;
export const exact: Same<ErrorCode, (typeof every)[number]> = true;
// @ts-expect-error: not one of the codes
export const bogus: ErrorCode = "no_such_code";
declare const anyString: string;
// @ts-expect-error: a plain string is not a code
export const loose: ErrorCode = anyString;
type Refused = paths["/v1/uploads"]["post"]["responses"][422]["content"]["application/json"]["error"]["code"];
export const refused: Same<Refused, ErrorCode> = true;
`,
);
const program = ts.createProgram([path.join(dir, "check.ts")], {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2020,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
});
for (const d of ts.getPreEmitDiagnostics(program)) {
  failures.push(`openapi-typescript: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

console.log(
  `checked ${operations.length} operations, ${fieldNames.size} form fields, ${uploadCodes.size} error codes of POST /v1/uploads, ${allCodes.length} codes as a TypeScript union; screenshots in ${shots}`,
);
if (failures.length) {
  console.error(`FAILED:\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
