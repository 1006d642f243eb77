// Single sign-on in headless Chromium, end to end, against a real OpenID
// provider (npm's oidc-provider, started by idp.mjs) and a real `berth
// serve` with its own data directory and configuration (registry `main`
// private; group `platform-eng` maps to team `platform`, group
// `registry-admins` to the administrator flag). Checks that:
// - `berth serve` refuses to start without the client secret;
// - alice signs in from the login page's SSO link through the provider's
//   sign-in page (code flow, PKCE S256, state and nonce kept in Berth's
//   cookie) and lands on her account page, signed in;
// - that first sign-in created her user and put her in team `platform`
//   (command line, audit log);
// - replaying a used authorization code with the sign-in's own cookie is
//   refused (the provider refuses the code; 401);
// - a token she makes on the account page publishes with real cargo once
//   her team holds a publish role in `main` (and not before);
// - logging out ends her session and goes on to the provider's logout,
//   which comes back to Berth's front page, and the provider then asks
//   for her password again;
// - removed from her group at the provider, she leaves the team at her
//   next sign-in (audited) and her token can no longer publish; put back,
//   she is back in;
// - root, in `registry-admins`, is a server administrator (opens /admin)
//   and stops being one (403) when the group is taken away (audited);
// - a callback whose `state` was tampered with is refused (401, the error
//   names the state, audited);
// - cancelling at the provider comes back to the login page with the
//   provider's `access_denied`;
// - with `password_login = false`, /login goes straight to the provider,
//   and a callback no browser started is refused on a login page without
//   a password form;
// - the audit log's hash chain verifies.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startIdp } from "./idp.mjs";

const BIN = process.env.UI_TEST_BERTH;
assert.ok(BIN, "UI_TEST_BERTH names the berth binary (run tests/browser/run.sh)");
const started = Date.now();

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const work = mkdtempSync(join(tmpdir(), "berth-sso-"));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const idpPort = await freePort();

// The people at the provider; rewritten by the tests to change groups.
const accountsFile = join(work, "accounts.json");
const accounts = {
  alice: { password: "alice-password", name: "Alice Example", groups: ["platform-eng", "unmapped"] },
  root: { password: "root-password", name: "Root Example", groups: ["registry-admins"] },
};
const saveAccounts = () => writeFileSync(accountsFile, JSON.stringify(accounts, null, 2));
saveAccounts();

// Odd characters on purpose: client_secret_basic form-encodes them.
const SECRET = "s3cr:t/with+odd chars%&=";
const idp = await startIdp({
  port: idpPort,
  accountsFile,
  clients: [
    {
      client_id: "berth",
      client_secret: SECRET,
      redirect_uris: [`${base}/login/oidc/callback`],
      post_logout_redirect_uris: [`${base}/`],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
});
const issuer = idp.issuer;

const config = join(work, "berth.toml");
const writeConfig = ({ passwordLogin }) =>
  writeFileSync(
    config,
    `data_dir = "${join(work, "data")}"\nlisten = "127.0.0.1:${port}"\npublic_url = "${base}"\n\n` +
      `[[registries]]\nname = "main"\nprivate = true\n\n` +
      `[auth]\npassword_login = ${passwordLogin}\n\n` +
      `[auth.oidc]\nissuer = "${issuer}"\nclient_id = "berth"\n` +
      `client_secret_env = "BERTH_OIDC_CLIENT_SECRET"\n` +
      `scopes = ["openid", "profile", "email", "groups"]\n` +
      `admin_groups = ["registry-admins"]\n` +
      `teams = { "platform-eng" = "platform" }\n`,
  );
writeConfig({ passwordLogin: true });
const env = { ...process.env, BERTH_OIDC_CLIENT_SECRET: SECRET };

const berth = (args) => {
  const r = spawnSync(BIN, ["--config", config, ...args], { encoding: "utf8", env, timeout: 60_000 });
  assert.equal(r.status, 0, `berth ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
const jsonLines = (out) => out.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
const teamMembers = (team) => jsonLines(berth(["team", "list", "--json"])).find((t) => t.team === team)?.members;
const auditRows = (action) => jsonLines(berth(["audit", "--json", "--action", action]));

let server;
let serverLog = "";
// Whatever happens, the server does not outlive the test.
process.on("exit", () => server?.kill("SIGKILL"));
const startBerth = async () => {
  server = spawn(BIN, ["--config", config, "serve"], { env, stdio: ["ignore", "ignore", "pipe"] });
  server.stderr.on("data", (d) => { serverLog += d; });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch {}
    if (i > 300) throw new Error(`berth serve did not start:\n${serverLog}`);
    if (server.exitCode !== null) throw new Error(`berth serve exited:\n${serverLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};
const stopBerth = async () => {
  if (server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  const timer = setTimeout(() => server.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
};

const results = [];
const test = async (name, body) => {
  try {
    await body();
    results.push([name, true]);
    console.log(`ok - ${name}`);
  } catch (e) {
    results.push([name, false]);
    console.log(`not ok - ${name}\n${e.stack}`);
  }
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
// A fresh browser (no cookies at Berth or at the provider), every wait bounded.
const newPage = async () => {
  const ctx = await browser.newContext();
  ctx.setDefaultTimeout(15_000);
  ctx.setDefaultNavigationTimeout(15_000);
  return ctx.newPage();
};
const atProvider = new RegExp(`^${escape(issuer)}/interaction/[^/]+$`);
// At the provider's sign-in page: sign in as `login`.
const signInAtProvider = async (p, login, password = accounts[login].password) => {
  await p.waitForURL(atProvider);
  await p.getByLabel("Username").fill(login);
  await p.getByLabel("Password").fill(password);
  await p.getByRole("button", { name: "Sign in" }).click();
};
// From Berth's login page through the provider's sign-in page to the
// account page.
const ssoSignIn = async (p, login) => {
  await p.goto(`${base}/login`);
  await p.locator("a#sso").click();
  await signInAtProvider(p, login);
  await p.waitForURL(`${base}/account`);
};
// Forgets every cookie of the browser, Berth's and the provider's: signed
// out of both.
const forgetCookies = (p) => p.context().clearCookies();

// Publishes `name` `version` to `main` with real cargo and `token`; the
// finished process.
const cargoHome = join(work, "cargo-home");
mkdirSync(cargoHome, { recursive: true });
writeFileSync(
  join(cargoHome, "config.toml"),
  `[registries.main]\nindex = "sparse+${base}/r/main/index/"\ncredential-provider = ["cargo:token"]\n`,
);
const cargoPublish = (name, version, token) => {
  const pkg = join(work, `${name}-${version}`);
  mkdirSync(join(pkg, "src"), { recursive: true });
  writeFileSync(
    join(pkg, "Cargo.toml"),
    `[package]\nname = "${name}"\nversion = "${version}"\nedition = "2021"\n` +
      `description = "Published by a single sign-on user"\nlicense = "MIT"\npublish = ["main"]\n`,
  );
  writeFileSync(join(pkg, "src", "lib.rs"), "pub fn f() {}\n");
  return spawnSync("cargo", ["publish", "--registry", "main", "--allow-dirty", "--no-verify"], {
    cwd: pkg,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, CARGO_HOME: cargoHome, CARGO_REGISTRIES_MAIN_TOKEN: token, CARGO_TARGET_DIR: join(work, "target") },
  });
};

let alice; // alice's page
let aliceToken = "";
let firstCallback = ""; // the callback URL of alice's first sign-in
let firstPending; // and the berth_oidc cookie that went with it

await test("berth serve refuses to start without the client secret", async () => {
  const { BERTH_OIDC_CLIENT_SECRET: _, ...without } = env;
  const r = spawnSync(BIN, ["--config", config, "serve"], { encoding: "utf8", env: without, timeout: 30_000 });
  assert.notEqual(r.status, 0, `it started (${r.signal ?? r.status}):\n${r.stderr}`);
  assert.match(r.stderr, /BERTH_OIDC_CLIENT_SECRET/);
});

await startBerth();

await test("alice signs in through the provider and lands on her account page", async () => {
  alice = await newPage();
  await alice.goto(`${base}/login`);
  // Both ways in: the SSO link and the password form.
  assert.equal(await alice.locator("a#sso").innerText(), "Sign in with single sign-on");
  assert.equal(await alice.getByLabel("Password").count(), 1);
  let authorize = "";
  alice.on("request", (r) => {
    if (!authorize && r.url().startsWith(`${issuer}/auth?`)) authorize = r.url();
    if (!firstCallback && r.url().startsWith(`${base}/login/oidc/callback?`)) firstCallback = r.url();
  });
  await alice.locator("a#sso").click();
  await alice.waitForURL(atProvider);
  // Berth asked for the code flow with PKCE (S256), a state and a nonce,
  // and kept them in its cookie.
  firstPending = (await alice.context().cookies(`${base}/login/oidc/callback`)).find((c) => c.name === "berth_oidc");
  assert.ok(firstPending, "the berth_oidc cookie is set");
  assert.equal(firstPending.path, "/login/oidc");
  assert.ok(firstPending.httpOnly);
  assert.match(firstPending.value, /^[A-Za-z0-9]{32}\.[A-Za-z0-9]{32}\.[A-Za-z0-9]{43}$/);
  const [state, nonce, verifier] = firstPending.value.split(".");
  const q = new URL(authorize).searchParams;
  assert.equal(q.get("response_type"), "code");
  assert.equal(q.get("client_id"), "berth");
  assert.equal(q.get("redirect_uri"), `${base}/login/oidc/callback`);
  assert.equal(q.get("scope"), "openid profile email groups");
  assert.equal(q.get("state"), state);
  assert.equal(q.get("nonce"), nonce);
  assert.equal(q.get("code_challenge_method"), "S256");
  assert.equal(q.get("code_challenge"), createHash("sha256").update(verifier).digest("base64url"));
  // The provider checks the password: a wrong one stays there.
  await signInAtProvider(alice, "alice", "wrong-password");
  assert.match(await alice.locator("#idp-error").innerText(), /Wrong username or password/);
  await alice.getByLabel("Username").fill("alice");
  await alice.getByLabel("Password").fill(accounts.alice.password);
  await alice.getByRole("button", { name: "Sign in" }).click();
  await alice.waitForURL(`${base}/account`);
  assert.equal(await alice.locator("h1").innerText(), "Account: alice");
  assert.equal(await alice.locator('header a[href="/account"]').innerText(), "alice");
  assert.equal(await alice.locator('header a[href="/admin"]').count(), 0, "alice is no administrator");
  // The callback carried the state of the cookie.
  const cb = new URL(firstCallback);
  assert.equal(cb.searchParams.get("state"), firstPending.value.split(".")[0]);
  assert.ok(cb.searchParams.get("code"));
  // The pending cookie is gone, the session and SSO cookies are set.
  const cookies = await alice.context().cookies(`${base}/login/oidc/callback`);
  assert.equal(cookies.find((c) => c.name === "berth_oidc"), undefined);
  assert.ok(cookies.find((c) => c.name === "berth_session"));
  assert.ok(cookies.find((c) => c.name === "berth_sso"));
});

await test("the first sign-in created alice and put her in team platform (command line, audit)", async () => {
  assert.match(berth(["user", "list"]), /^\d+\talice\tsign-in=oidc$/m);
  assert.deepEqual(teamMembers("platform"), ["alice"]);
  const created = auditRows("user.create").filter((r) => r.actor === "alice");
  assert.equal(created.length, 1, JSON.stringify(created));
  assert.match(created[0].detail, /first oidc sign-in \(http:\/\/127\.0\.0\.1:\d+#alice\)/);
  const joined = auditRows("team.member_add").filter((r) => /team=platform login=alice/.test(r.detail));
  assert.equal(joined.length, 1, JSON.stringify(joined));
  const logins = auditRows("session.login").filter((r) => r.actor === "alice" && r.outcome === "ok");
  assert.ok(logins.some((r) => /single sign-on sign-in/.test(JSON.stringify(r))), JSON.stringify(logins));
});

await test("a used authorization code replayed with its own cookie is refused", async () => {
  assert.ok(firstCallback && firstPending, "recorded at alice's sign-in");
  const p = await newPage();
  await p.context().addCookies([{ ...firstPending, path: "/login/oidc" }]);
  const r = await p.goto(firstCallback);
  assert.equal(r.status(), 401);
  assert.equal(p.url(), firstCallback);
  const alert = await p.locator('p.error[role="alert"]').innerText();
  assert.match(alert, /the provider refused the authorization code/);
  assert.match(alert, /invalid_grant/);
  assert.equal((await p.context().cookies(base)).find((c) => c.name === "berth_session"), undefined);
  const refusals = auditRows("session.login").filter((r) => /refused the authorization code/.test(JSON.stringify(r)));
  assert.equal(refusals.length, 1, JSON.stringify(refusals));
  await p.context().close();
});

await test("alice's token publishes with cargo once team platform holds a publish role", async () => {
  await alice.goto(`${base}/account`);
  await alice.getByLabel("Name").fill("laptop");
  await alice.getByRole("button", { name: "Create token" }).click();
  aliceToken = (await alice.locator("#new-token").innerText()).trim();
  assert.match(aliceToken, /^berth_[A-Za-z0-9]{40}$/);
  // `main` is private and alice holds no role yet.
  const before = cargoPublish("sso-crate", "0.1.0", aliceToken);
  assert.notEqual(before.status, 0, "published without a role");
  assert.match(before.stderr, /403|forbidden|not allowed|permission/i);
  assert.match(berth(["role", "grant", "--registry", "main", "--team", "platform", "--role", "publish"]), /platform/);
  const r = cargoPublish("sso-crate", "0.1.0", aliceToken);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /Published sso-crate v0\.1\.0|Uploaded sso-crate v0\.1\.0/);
  const published = auditRows("publish").filter((row) => row.actor === "alice");
  assert.equal(published.length, 1, JSON.stringify(published));
  await alice.goto(`${base}/r/main/crates/sso-crate`);
  assert.equal(await alice.locator("h1").first().innerText(), "sso-crate 0.1.0");
});

await test("logging out ends the session and goes on to the provider's logout, then back", async () => {
  const errors = [];
  alice.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await alice.goto(`${base}/account`);
  await alice.getByRole("button", { name: "Log out" }).click();
  try {
    await alice.waitForURL(new RegExp(`^${escape(issuer)}/session/end\\?`), { timeout: 5_000 });
  } catch {
    const at = alice.url();
    const r = await alice.goto(`${base}/account`);
    throw new Error(
      `Log out did not reach the provider's end_session_endpoint; the page stayed at ${at}; ` +
        `GET /account then ended at ${r.url()} (session ${alice.url().endsWith("/account") ? "still alive" : "ended"}). ` +
        `Console: ${JSON.stringify(errors)}`,
    );
  }
  const asked = new URL(alice.url()).searchParams;
  assert.equal(asked.get("client_id"), "berth");
  assert.equal(asked.get("post_logout_redirect_uri"), `${base}/`);
  await alice.getByRole("button", { name: "Yes, sign me out" }).click();
  await alice.waitForURL(`${base}/`);
  assert.equal(await alice.locator('header a[href="/login"]').innerText(), "Log in");
  const cookies = await alice.context().cookies(base);
  assert.equal(cookies.find((c) => c.name === "berth_session"), undefined);
  assert.equal(cookies.find((c) => c.name === "berth_sso"), undefined);
  // Signed out at the provider too: it asks for the password again.
  await alice.goto(`${base}/login`);
  await alice.locator("a#sso").click();
  await alice.waitForURL(atProvider);
  assert.equal(await alice.getByLabel("Password").count(), 1);
});

await test("out of her group at the provider, alice leaves team platform at her next sign-in", async () => {
  accounts.alice.groups = ["unmapped"];
  saveAccounts();
  await forgetCookies(alice);
  assert.deepEqual(teamMembers("platform"), ["alice"], "nothing changes before she signs in");
  await ssoSignIn(alice, "alice");
  assert.equal(await alice.locator("h1").innerText(), "Account: alice");
  assert.deepEqual(teamMembers("platform") ?? [], []);
  const left = auditRows("team.member_remove");
  assert.equal(left.length, 1, JSON.stringify(left));
  assert.equal(left[0].actor, "alice");
  assert.match(left[0].detail, /team=platform login=alice changed=true \(leaves with the oidc groups\)/);
  // The team's role no longer reaches her token.
  const r = cargoPublish("sso-crate", "0.2.0", aliceToken);
  assert.notEqual(r.status, 0, "published after leaving the team");
  assert.match(r.stderr, /403|forbidden|not allowed|permission/i);
  // Back in the group: back in the team.
  accounts.alice.groups = ["platform-eng"];
  saveAccounts();
  await forgetCookies(alice);
  await ssoSignIn(alice, "alice");
  assert.deepEqual(teamMembers("platform"), ["alice"]);
  assert.equal(cargoPublish("sso-crate", "0.2.0", aliceToken).status, 0);
});

await test("root, in registry-admins, is an administrator until the group is taken away", async () => {
  const p = await newPage();
  await ssoSignIn(p, "root");
  assert.match(await p.locator("h1").innerText(), /^Account: root\s+administrator$/);
  let r = await p.goto(`${base}/admin`);
  assert.equal(r.status(), 200);
  assert.match(await p.locator("table").first().innerText(), /alice[\s\S]*root|root[\s\S]*alice/);
  assert.match(berth(["user", "list"]), /^\d+\troot\tadmin\tsign-in=oidc$/m);
  accounts.root.groups = [];
  saveAccounts();
  await forgetCookies(p);
  await ssoSignIn(p, "root");
  assert.equal(await p.locator("h1").innerText(), "Account: root");
  assert.equal(await p.locator('header a[href="/admin"]').count(), 0);
  r = await p.goto(`${base}/admin`);
  assert.equal(r.status(), 403);
  assert.match(berth(["user", "list"]), /^\d+\troot\tsign-in=oidc$/m);
  const flags = auditRows("user.admin").filter((row) => /login=root/.test(row.detail));
  assert.deepEqual(
    flags.map((row) => row.detail),
    ["login=root admin=true from the oidc groups", "login=root admin=false from the oidc groups"],
  );
  await p.context().close();
});

await test("a callback whose state was tampered with is refused", async () => {
  const p = await newPage();
  // Playwright does not route the requests a redirect makes, and the
  // provider reaches the callback through redirects: route the sign-in
  // form's post instead, follow the provider's redirects here (the
  // context's cookies go along), and change the state in the last one.
  let tampered = "";
  let routeError;
  await p.route(`${issuer}/interaction/*/login`, async (route) => {
    try {
      let answer = await route.fetch({ maxRedirects: 0 });
      let location = answer.headers()["location"];
      for (let hops = 0; location && new URL(location, issuer).origin === issuer; hops++) {
        assert.ok(hops < 10, "too many redirects at the provider");
        answer = await p.context().request.get(new URL(location, issuer).href, { maxRedirects: 0 });
        location = answer.headers()["location"];
      }
      assert.ok(location?.startsWith(`${base}/login/oidc/callback?`), `the provider answered ${answer.status()} ${location}`);
      const url = new URL(location);
      assert.ok(url.searchParams.get("code"));
      url.searchParams.set("state", "A".repeat(32));
      tampered = url.href;
      await route.fulfill({ status: 303, headers: { location: tampered } });
    } catch (e) {
      routeError = e;
      await route.abort();
    }
  });
  await p.goto(`${base}/login`);
  await p.locator("a#sso").click();
  const answer = p.waitForResponse((r) => r.url().includes("/login/oidc/callback"));
  await signInAtProvider(p, "alice");
  const r = await answer;
  if (routeError) throw routeError;
  assert.ok(tampered, "the callback was intercepted");
  assert.equal(r.url(), tampered);
  assert.equal(r.status(), 401);
  await p.locator('p.error[role="alert"]').waitFor();
  assert.match(
    await p.locator('p.error[role="alert"]').innerText(),
    /single sign-on failed: the answer's state does not match the sign-in this browser started/,
  );
  assert.equal(await p.locator("h1").innerText(), "Log in");
  assert.equal((await p.context().cookies(base)).find((c) => c.name === "berth_session"), undefined);
  const refusals = auditRows("session.login").filter((row) => /state does not match/.test(JSON.stringify(row)));
  assert.equal(refusals.length, 1, JSON.stringify(refusals));
  await p.context().close();
});

await test("cancelling at the provider comes back to the login page with the provider's answer", async () => {
  const p = await newPage();
  await p.goto(`${base}/login`);
  await p.locator("a#sso").click();
  await p.waitForURL(atProvider);
  const answer = p.waitForResponse((r) => r.url().startsWith(`${base}/login/oidc/callback?`));
  await p.getByRole("button", { name: "Cancel" }).click();
  const r = await answer;
  assert.equal(r.status(), 401);
  assert.equal(new URL(r.url()).searchParams.get("error"), "access_denied");
  assert.equal(
    await p.locator('p.error[role="alert"]').innerText(),
    "single sign-on failed: the identity provider answered `access_denied` (End-User aborted interaction)",
  );
  // The sign-in's cookie is spent.
  assert.equal((await p.context().cookies(`${base}/login/oidc/callback`)).find((c) => c.name === "berth_oidc"), undefined);
  await p.context().close();
});

await test("with password_login = false the login page goes straight to the provider", async () => {
  await stopBerth();
  writeConfig({ passwordLogin: false });
  await startBerth();
  const p = await newPage();
  await p.goto(`${base}/login`);
  await p.waitForURL(atProvider);
  await signInAtProvider(p, "alice");
  await p.waitForURL(`${base}/account`);
  assert.equal(await p.locator("h1").innerText(), "Account: alice");
  await p.context().close();
  // A callback no browser started: refused on a page without a password form.
  const q = await newPage();
  const r = await q.goto(`${base}/login/oidc/callback?code=abc&state=${"B".repeat(32)}`);
  assert.equal(r.status(), 401);
  assert.match(await q.locator('p.error[role="alert"]').innerText(), /this browser did not start the sign-in/);
  assert.equal(await q.locator("a#sso").count(), 1);
  assert.equal(await q.getByLabel("Password").count(), 0);
  await q.context().close();
});

await test("the audit log's chain verifies", async () => {
  berth(["audit", "verify"]);
});

await browser.close();
await stopBerth();
await idp.close();
rmSync(work, { recursive: true, force: true });
const passed = results.filter(([, ok]) => ok).length;
const failed = results.length - passed;
console.log(`sso: ${passed} passed, ${failed} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
if (failed > 0) {
  console.log(serverLog.split("\n").slice(-40).join("\n"));
  process.exit(1);
}
