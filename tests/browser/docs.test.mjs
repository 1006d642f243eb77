// Documentation served beside the crate, in headless Chromium against a
// real `berth serve`: real cargo publishes a crate, real `cargo doc` builds
// its docs as CI would, they are uploaded with the owner's token, and the
// browser opens them from the crate page's link: the page renders under
// its sandboxing content security policy with no console error and no
// violation, and rustdoc's own search finds the documented function.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } from "node:fs";
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
  `data_dir = "${join(work, "data")}"\nlisten = "127.0.0.1:${port}"\npublic_url = "${base}"\n`,
);
const berth = (args) => {
  const r = spawnSync(BIN, ["--config", config, ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, `berth ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
berth(["user", "add", "alice"]);
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
  `[registries.main]\nindex = "sparse+${base}/r/main/index/"\ncredential-provider = ["cargo:token"]\n`,
);
const pkg = join(work, "browsed-docs");
mkdirSync(join(pkg, "src"), { recursive: true });
writeFileSync(
  join(pkg, "Cargo.toml"),
  `[package]\nname = "browsed-docs"\nversion = "1.0.0"\nedition = "2021"\n` +
    `description = "Docs in a browser"\nlicense = "MIT"\npublish = ["main"]\n`,
);
writeFileSync(
  join(pkg, "src", "lib.rs"),
  "//! Docs in a browser.\n\n/// Finds the needle, documented for the search test.\n" +
    "pub fn find_the_needle() -> u8 { 7 }\n\n/// A haystack.\npub struct Haystack;\n",
);
const env = { ...process.env, CARGO_HOME: cargoHome, CARGO_REGISTRIES_MAIN_TOKEN: token, CARGO_TARGET_DIR: join(work, "target") };
for (const args of [["publish", "--registry", "main", "--allow-dirty", "--no-verify"], ["doc", "--no-deps"]]) {
  const r = spawnSync("cargo", args, { cwd: pkg, encoding: "utf8", env });
  assert.equal(r.status, 0, `cargo ${args.join(" ")}: ${r.stderr}`);
}
const tar = spawnSync("tar", ["czf", join(work, "docs.tar.gz"), "-C", join(work, "target"), "doc"]);
assert.equal(tar.status, 0, String(tar.stderr));

await test("the owner's token uploads the docs", async () => {
  const r = await fetch(`${base}/r/main/api/v1/crates/browsed-docs/1.0.0/docs`, {
    method: "PUT",
    headers: { Authorization: token },
    body: readFileSync(join(work, "docs.tar.gz")),
  });
  assert.equal(r.status, 200, await r.text());
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
