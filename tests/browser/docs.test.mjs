// Documentation served beside the crate, in headless Chromium against a
// real `berth serve`: real cargo publishes a crate, real `cargo doc` builds
// its docs as CI would, they are uploaded with the owner's token, and the
// browser opens them from the crate page's link: the page renders under
// its sandboxing content security policy with no console error and no
// violation, and rustdoc's own search finds the documented function. A
// private registry's docs open the same way for a signed-in reader
// (with a pass in the URL), and a UI page cannot run a docs script.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const BIN = process.env.UI_TEST_BERTH;
assert.ok(BIN, "UI_TEST_BERTH names the berth binary (run tests/browser/run.sh)");

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const work = mkdtempSync(join(tmpdir(), "berth-docs-browser-"));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const config = join(work, "berth.toml");
writeFileSync(
  config,
  `data_dir = "${join(work, "data")}"\nlisten = "127.0.0.1:${port}"\npublic_url = "${base}"\n` +
    `[[registries]]\nname = "main"\n[[registries]]\nname = "vault"\nprivate = true\n`,
);
const berth = (args, input) => {
  const r = spawnSync(BIN, ["--config", config, ...args], { encoding: "utf8", input });
  assert.equal(r.status, 0, `berth ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
berth(["user", "add", "alice", "--password-stdin"], "alice-password\n");
berth(["role", "grant", "--registry", "vault", "--user", "alice", "--role", "publish"]);
const token = berth(["token", "create", "--user", "alice"]).trim().split("\n").pop().trim();

const server = spawn(BIN, ["--config", config, "serve"], { stdio: ["ignore", "ignore", "pipe"] });
let serverLog = "";
server.stderr.on("data", (d) => { serverLog += d; });
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/health`)).ok) break;
  } catch {}
  if (i > 100) throw new Error(`berth serve did not start:\n${serverLog}`);
  await new Promise((r) => setTimeout(r, 100));
}

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

// Real cargo: the crate published, then its docs built and archived as a
// CI job would (`tar czf docs.tar.gz -C target doc`).
const cargoHome = join(work, "cargo-home");
mkdirSync(cargoHome, { recursive: true });
writeFileSync(
  join(cargoHome, "config.toml"),
  ["main", "vault"]
    .map((r) => `[registries.${r}]\nindex = "sparse+${base}/r/${r}/index/"\ncredential-provider = ["cargo:token"]\n`)
    .join(""),
);
// A crate published to `registry`, its docs built by `cargo doc` and
// archived as a CI job would.
const documented = (registry, name) => {
  const pkg = join(work, name);
  mkdirSync(join(pkg, "src"), { recursive: true });
  writeFileSync(
    join(pkg, "Cargo.toml"),
    `[package]\nname = "${name}"\nversion = "1.0.0"\nedition = "2021"\n` +
      `description = "Docs in a browser"\nlicense = "MIT"\npublish = ["${registry}"]\n`,
  );
  writeFileSync(
    join(pkg, "src", "lib.rs"),
    "//! Docs in a browser.\n\n/// Finds the needle, documented for the search test.\n" +
      "pub fn find_the_needle() -> u8 { 7 }\n\n/// A haystack.\npub struct Haystack;\n",
  );
  const target = join(work, `target-${name}`);
  const env = {
    ...process.env,
    CARGO_HOME: cargoHome,
    [`CARGO_REGISTRIES_${registry.toUpperCase()}_TOKEN`]: token,
    CARGO_TARGET_DIR: target,
  };
  for (const args of [["publish", "--registry", registry, "--allow-dirty", "--no-verify"], ["doc", "--no-deps"]]) {
    const r = spawnSync("cargo", args, { cwd: pkg, encoding: "utf8", env });
    assert.equal(r.status, 0, `cargo ${args.join(" ")}: ${r.stderr}`);
  }
  const archive = join(work, `${name}.tar.gz`);
  const tar = spawnSync("tar", ["czf", archive, "-C", target, "doc"]);
  assert.equal(tar.status, 0, String(tar.stderr));
  return { archive, target };
};
const upload = async (registry, name, archive) => {
  const r = await fetch(`${base}/r/${registry}/api/v1/crates/${name}/1.0.0/docs`, {
    method: "PUT",
    headers: { Authorization: token },
    body: readFileSync(archive),
  });
  assert.equal(r.status, 200, await r.text());
};
const publicDocs = documented("main", "browsed-docs");
const privateDocs = documented("vault", "vault-docs");

await test("the owner's token uploads the docs", async () => {
  await upload("main", "browsed-docs", publicDocs.archive);
  await upload("vault", "vault-docs", privateDocs.archive);
});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const page = await (await browser.newContext()).newPage();
const problems = [];
page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
page.on("pageerror", (e) => problems.push(String(e)));

await test("the crate page links to the docs, which render without an error", async () => {
  await page.goto(`${base}/r/main/crates/browsed-docs`);
  await page.getByRole("link", { name: /docs\/browsed-docs\/1\.0\.0/ }).click();
  await page.waitForURL(/\/r\/main\/docs\/browsed-docs\/1\.0\.0\/browsed_docs\/index\.html$/);
  await page.locator("a", { hasText: "find_the_needle" }).first().waitFor();
  assert.match(await page.locator("h1").first().innerText(), /browsed_docs/);
  assert.deepEqual(problems, []);
});

await test("rustdoc's search finds the documented function", async () => {
  await page.goto(`${base}/r/main/docs/browsed-docs/latest/browsed_docs/index.html?search=needle`);
  const hit = page.locator("#search a", { hasText: "find_the_needle" }).first();
  await hit.waitFor({ timeout: 15000 });
  await hit.click();
  await page.waitForURL(/fn\.find_the_needle\.html/);
  assert.match(await page.locator("main").innerText(), /Finds the needle/);
  // Scripts run in a sandbox without this server's origin: no cookie.
  assert.equal(await page.evaluate(() => { try { return document.cookie; } catch (e) { return "blocked"; } }), "blocked");
  assert.deepEqual(problems, []);
});

await test("a page of the server's own origin cannot run a docs script", async () => {
  const script = readdirSync(join(publicDocs.target, "doc", "static.files")).find((f) => f.endsWith(".js"));
  assert.ok(script, "rustdoc wrote a script");
  await page.goto(`${base}/r/main/crates/browsed-docs`);
  // The UI's `script-src 'self'` would let it run; the docs path refuses
  // a load that a page of this origin (not the sandboxed docs) makes.
  const outcome = await page.evaluate(
    (src) =>
      new Promise((resolve) => {
        const s = document.createElement("script");
        s.src = src;
        s.onload = () => resolve("loaded");
        s.onerror = () => resolve("refused");
        document.head.append(s);
      }),
    `/r/main/docs/browsed-docs/1.0.0/static.files/${script}`,
  );
  assert.equal(outcome, "refused");
  problems.length = 0;
});

await test("a private registry's docs open for a signed-in reader, search included", async () => {
  await page.goto(`${base}/login`);
  await page.getByLabel("Login").fill("alice");
  await page.getByLabel("Password").fill("alice-password");
  await Promise.all([page.waitForURL(/\/account$/), page.getByRole("button", { name: /log in|sign in/i }).click()]);
  await page.goto(`${base}/r/vault/crates/vault-docs`);
  await page.getByRole("link", { name: /vault-docs\/1\.0\.0\/docs/ }).click();
  await page.waitForURL(/\/r\/vault\/docs\/~[A-Za-z0-9]{40}\/vault-docs\/1\.0\.0\/vault_docs\/index\.html$/);
  await page.locator("a", { hasText: "find_the_needle" }).first().waitFor();
  const docsUrl = page.url();
  await page.goto(`${docsUrl}?search=needle`);
  const hit = page.locator("#search a", { hasText: "find_the_needle" }).first();
  await hit.waitFor({ timeout: 15000 });
  await hit.click();
  await page.waitForURL(/~[A-Za-z0-9]{40}\/vault-docs\/1\.0\.0\/vault_docs\/fn\.find_the_needle\.html/);
  assert.match(await page.locator("main").innerText(), /Finds the needle/);
  assert.deepEqual(problems, []);
  // Without the pass, the same page wants a token.
  const plain = await fetch(docsUrl.replace(/~[A-Za-z0-9]{40}\//, ""));
  assert.equal(plain.status, 401);
});

await browser.close();
server.kill("SIGTERM");
rmSync(work, { recursive: true, force: true });
const passed = results.filter(([, ok]) => ok).length;
const failed = results.length - passed;
console.log(`docs browser: ${passed} passed, ${failed} failed`);
if (failed > 0) {
  console.log(serverLog.split("\n").slice(-40).join("\n"));
  process.exit(1);
}
