// Berth's web UI in headless Chromium against a real `berth serve`:
// log in, create a token on the account page and publish with it through
// real cargo, revoke it, search as you type, open a crate page, copy the
// install line and the `berth verify` command, browse the admin pages and administer a user (role,
// administrator flag, disable, enable, remove), and open a crate whose README
// carries script, event handlers, javascript: links, iframes and raw HTML
// while listening for dialogs and console errors (none may happen); browse
// a proxy (of this server's own `main`) and a virtual registry's crate
// pages; see an advisory imported with the command line on a crate page
// and the policies page; get HTML 404s and redirects; sort search results; check that no
// page scrolls sideways at 390 px; switch the theme and have it remembered.
// With UI_TEST_SCREENSHOTS=1, writes the main pages in both themes (and
// the crate page on a phone) to docs/screenshots/.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const BIN = process.env.UI_TEST_BERTH;
const REPO = process.env.UI_TEST_REPO;
assert.ok(BIN, "UI_TEST_BERTH names the berth binary (run tests/browser/run.sh)");

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const work = mkdtempSync(join(tmpdir(), "berth-browser-"));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const config = join(work, "berth.toml");
writeFileSync(
  config,
  `data_dir = "${join(work, "data")}"\nlisten = "127.0.0.1:${port}"\npublic_url = "${base}"\n\n` +
    `[[registries]]\nname = "main"\n\n` +
    // A proxy of this server's own `main`, asked again on every request
    // (publishes to `main` ask it about new names before they exist).
    `[[registries]]\nname = "public"\nkind = "proxy"\nupstream = "sparse+${base}/r/main/index/"\nindex_ttl_secs = 0\n\n` +
    // It keeps versions an imported advisory affects from cargo.
    `[registries.policy]\nblock_advisories = true\n\n` +
    `[[registries]]\nname = "company"\nkind = "virtual"\nmembers = ["main", "public"]\n`,
);
const berth = (args, input) => {
  const r = spawnSync(BIN, ["--config", config, ...args], { input, encoding: "utf8" });
  assert.equal(r.status, 0, `berth ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
berth(["user", "add", "admin", "--admin", "--password-stdin"], "admin-password\n");

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

// Signs a page in as the administrator through the login form.
const logIn = async (p) => {
  await p.goto(`${base}/login`);
  await p.getByLabel("Login").fill("admin");
  await p.getByLabel("Password").fill("admin-password");
  await p.getByRole("button", { name: "Log in" }).click();
  await p.waitForURL(`${base}/account`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const context = await browser.newContext({ colorScheme: "light" });
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
const page = await context.newPage();
const dialogs = [];
const consoleErrors = [];
page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push(String(e)));

// Publishes `name` `version` to `main` with real cargo (the cargo home's
// config.toml is written by the first test that publishes): its manifest's
// description and extra lines, and its README.
const cargoHome = join(work, "cargo-home");
const publishCrate = (name, version, cliToken, { description, readme, extra = "" }) => {
  const pkg = join(work, name);
  mkdirSync(join(pkg, "src"), { recursive: true });
  writeFileSync(
    join(pkg, "Cargo.toml"),
    `[package]\nname = "${name}"\nversion = "${version}"\nedition = "2021"\n` +
      `description = "${description}"\nlicense = "MIT"\nreadme = "README.md"\npublish = ["main"]\n` +
      extra,
  );
  writeFileSync(join(pkg, "src", "lib.rs"), "pub fn f() {}\n");
  writeFileSync(join(pkg, "README.md"), readme);
  const r = spawnSync("cargo", ["publish", "--registry", "main", "--allow-dirty", "--no-verify"], {
    cwd: pkg,
    encoding: "utf8",
    env: { ...process.env, CARGO_HOME: cargoHome, CARGO_REGISTRIES_MAIN_TOKEN: cliToken, CARGO_TARGET_DIR: join(work, "target") },
  });
  assert.equal(r.status, 0, r.stderr);
};
// A crate for the search-order test, with keywords, a category and a
// README with code.
const sortable = (name) => ({
  description: `Crate ${name}`,
  readme: `# ${name}\n\n\`\`\`rust\nfn main() { println!("hi"); }\n\`\`\`\n\n- [x] done\n\n> quoted\n`,
  extra: `keywords = ["sorting"]\ncategories = ["development-tools"]\n`,
});

let token = "";
const HOSTILE_README = `# Hostile crate

<script>alert("script")</script>

<img src="x" onerror="alert('onerror')">

[click me](javascript:alert('link'))

<a href="javascript:alert('raw')" onclick="alert('click')">raw link</a>

<iframe src="javascript:alert('frame')"></iframe>

<div onmouseover="alert('over')" style="position:fixed;inset:0">cover</div>

<svg onload="alert('svg')"></svg>

Plain text stays.
`;

await test("log in with the password", async () => {
  await logIn(page);
  assert.match(await page.locator("h1").innerText(), /Account: admin/);
});

await test("create a token and publish with it through cargo", async () => {
  await page.getByLabel("Name").fill("browser");
  await page.getByRole("button", { name: "Create token" }).click();
  token = (await page.locator("#new-token").innerText()).trim();
  assert.match(token, /^berth_[A-Za-z0-9]{40}$/);
  mkdirSync(cargoHome, { recursive: true });
  writeFileSync(
    join(cargoHome, "config.toml"),
    `[registries.main]\nindex = "sparse+${base}/r/main/index/"\ncredential-provider = ["cargo:token"]\n`,
  );
  publishCrate("hostile", "0.1.0", token, {
    description: "A crate with a hostile README",
    readme: HOSTILE_README,
  });
});

await test("revoke the token", async () => {
  await page.goto(`${base}/account`);
  await page.getByRole("button", { name: "Revoke token browser" }).click();
  await page.waitForURL(`${base}/account`);
  assert.match(await page.locator("tr.revoked").first().innerText(), /revoked/);
  const r = await fetch(`${base}/r/main/api/v1/crates?q=x`, { headers: { Authorization: token } });
  assert.equal(r.status, 401);
});

await test("search as you type", async () => {
  await page.goto(`${base}/search?q=zzzz`);
  assert.equal(await page.locator('#results a[href="/r/main/crates/hostile"]').count(), 0);
  const box = page.getByLabel("Crate name or words");
  await box.fill("");
  await box.pressSequentially("hosti", { delay: 30 });
  // (waitForFunction would evaluate a string, which the CSP forbids.)
  for (let i = 0; !page.url().endsWith("/search?q=hosti"); i++) {
    assert.ok(i < 100, `the address did not follow the typing: ${page.url()}`);
    await page.waitForTimeout(50);
  }
  await page.locator('#results a[href="/r/main/crates/hostile"]').waitFor();
  assert.match(await page.locator("#search-status").innerText(), /1 result/);
});

await test("open a crate page and copy the install and verify lines", async () => {
  await page.locator('#results a[href="/r/main/crates/hostile"]').click();
  await page.waitForURL(`${base}/r/main/crates/hostile`);
  assert.equal(await page.locator("h1").first().innerText(), "hostile 0.1.0");
  await page.locator('button[data-copy="add-cmd"]').click();
  await page.locator('button[data-copy="add-cmd"][data-copied]').waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, "cargo add hostile --registry main\n");
  // Its entry in the transparency log, and the command that checks a
  // downloaded file against it with the key the server serves.
  assert.match(await page.locator("table.dense tbody tr").first().innerText(), /log #\d+/);
  await page.locator('button[data-copy="verify-cmd"]').click();
  await page.locator('button[data-copy="verify-cmd"][data-copied]').waitFor();
  const verify = await page.evaluate(() => navigator.clipboard.readText());
  const key = (await (await fetch(`${base}/r/main/log/key`)).text()).trim();
  assert.equal(verify, `berth verify --index sparse+${base}/r/main/index/ --key ${key} hostile-0.1.0.crate\n`);
  // The downloads chart: inline SVG named by its text summary.
  // A new crate's chart starts a fortnight back, with axes and labels.
  const chart = page.getByRole("img", { name: /downloads in the last 14 days/ });
  assert.equal(await chart.locator("rect").count(), 14);
  assert.ok((await chart.locator("text").count()) >= 4);
  assert.match(await page.locator("#dependents").innerText(), /dependents \(0\)/i);
});

await test("the hostile README runs nothing", async () => {
  await page.goto(`${base}/crates/hostile`);
  await page.locator(".readme h1").waitFor();
  await page.locator(".readme").hover();
  await page.getByText("raw link").click().catch(() => {});
  await page.waitForTimeout(300);
  assert.deepEqual(dialogs, []);
  const html = await page.locator(".readme").innerHTML();
  for (const bad of ["<script", "onerror", "onclick", "onmouseover", "onload", "javascript:", "<iframe", "style="]) {
    assert.ok(!html.includes(bad), `${bad} in ${html}`);
  }
  assert.ok(html.includes("Plain text stays."));
});

await test("browse the admin pages", async () => {
  await page.goto(`${base}/admin`);
  assert.match(await page.locator("table").first().innerText(), /admin/);
  assert.match(await page.locator("h2#teams").innerText(), /Teams/);
  await page.getByRole("link", { name: "Registries" }).click();
  await page.waitForURL(`${base}/admin/registries`);
  assert.equal(await page.locator("h2", { hasText: "main" }).count() >= 1, true);
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.waitForURL(`${base}/admin/audit`);
  await page.getByLabel("Action").selectOption("publish");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/action=publish/);
  assert.match(await page.locator("table.audit tbody").innerText(), /hostile/);
});

await test("administer a user from the admin pages", async () => {
  berth(["user", "add", "bob"]);
  await page.goto(`${base}/admin`);
  await page.getByRole("link", { name: "Manage bob" }).click();
  await page.waitForURL(`${base}/admin/users/bob`);
  const heading = page.locator("h1");
  // A role in `main`, then the administrator flag, each answered on the page.
  await page.locator("#grant-registry").selectOption("main");
  await page.locator("#grant-role").selectOption("publish");
  await page.getByRole("button", { name: "Grant role" }).click();
  assert.match(await page.locator("section#roles, section[aria-labelledby=roles]").innerText(), /main\s+publish/);
  await page.getByRole("button", { name: "Make administrator" }).click();
  assert.match(await heading.innerText(), /administrator/);
  // Destructive actions need their confirmation ticked.
  await page.getByRole("button", { name: "Unmake administrator" }).click();
  assert.match(await heading.innerText(), /administrator/, "unticked: nothing happened");
  await page.getByLabel(/Take the administrator rights of bob/).check();
  await page.getByRole("button", { name: "Unmake administrator" }).click();
  assert.doesNotMatch(await heading.innerText(), /administrator/);
  await page.getByLabel(/Disable bob/).check();
  await page.getByRole("button", { name: "Disable" }).click();
  assert.match(await heading.innerText(), /disabled/);
  assert.match(berth(["user", "list"]), /bob.*disabled/);
  await page.getByRole("button", { name: "Enable" }).click();
  assert.doesNotMatch(await heading.innerText(), /disabled/);
  // Removal needs the login typed.
  await page.locator("#remove-confirm").fill("bob");
  await page.getByRole("button", { name: "Remove user" }).click();
  await page.waitForURL(`${base}/admin`);
  assert.equal(await page.getByRole("link", { name: "Manage bob" }).count(), 0);
  const audit = berth(["audit", "--json"]);
  for (const action of ["role.grant", "user.admin", "user.disable", "user.enable", "user.remove"]) {
    assert.match(audit, new RegExp(`"action":"${action.replace(".", "\\.")}"`), action);
  }
});

await test("keyboard: the skip link and the search box are reachable", async () => {
  await page.goto(`${base}/`);
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "top-q");
});


await test("search sorts by name with numbers as numbers, across registries", async () => {
  const cliToken = berth(["token", "create", "--user", "admin"]).trim().split("\n").pop().trim();
  publishCrate("sortme10", "1.0.0", cliToken, sortable("sortme10"));
  publishCrate("sortme2", "1.0.0", cliToken, sortable("sortme2"));
  await page.goto(`${base}/search?q=sortme`);
  assert.equal(await page.locator("#r").inputValue(), "");
  await page.locator("#sort").selectOption("name");
  for (let i = 0; !page.url().includes("sort=name"); i++) {
    assert.ok(i < 100, `the address did not follow the order: ${page.url()}`);
    await page.waitForTimeout(50);
  }
  await page.waitForTimeout(200);
  const names = await page.locator("#results li strong").allInnerTexts();
  assert.deepEqual(names, ["sortme2", "sortme10"]);
  await page.goto(`${base}/search?q=sortme&sort=name`);
  assert.deepEqual(await page.locator("#results li strong").allInnerTexts(), ["sortme2", "sortme10"]);
  assert.match(await page.locator("#results li .meta").first().innerText(), /updated just now/);
  // The `/` shortcut focuses the search box.
  await page.goto(`${base}/crates/sortme2`);
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement.id), "top-q");
});

await test("proxy and virtual crate pages", async () => {
  // cargo's requests through the proxy cache the index file and the crate.
  assert.equal((await fetch(`${base}/r/public/index/so/rt/sortme2`)).status, 200);
  assert.equal((await fetch(`${base}/r/public/api/v1/crates/sortme2/1.0.0/download`)).status, 200);
  await page.goto(`${base}/r/public`);
  assert.match(await page.locator("#crate-count").innerText(), /1 crate cached/);
  assert.match(await page.locator("#cfg").innerText(), /\[source\.crates-io\]\s+replace-with = "public"/);
  await page.locator('a[href="/r/public/crates/sortme2"]').click();
  await page.waitForURL(`${base}/r/public/crates/sortme2`);
  assert.equal(await page.locator(".readme h1").innerText(), "sortme2");
  assert.equal(await page.locator('button[data-copy="add-cmd"]').count(), 1);
  assert.equal((await page.locator("#add-cmd").innerText()).trim(), "cargo add sortme2");
  await page.goto(`${base}/search?r=company&q=sortme2`);
  await page.locator('#results a[href="/r/company/crates/sortme2"]').click();
  await page.waitForURL(`${base}/r/company/crates/sortme2`);
  assert.equal(await page.locator(".readme h1").innerText(), "sortme2");
  await page.goto(`${base}/`);
  assert.equal(await page.locator('a[href="/r/public/crates/sortme2"]').count(), 1);
});

await test("the crate page: highlighted Rust, tabs, words, versions", async () => {
  await page.goto(`${base}/crates/sortme10/1.0.0`);
  assert.equal(await page.locator(".readme .hl-kw").first().innerText(), "fn");
  assert.equal(await page.locator(".readme .hl-mac").first().innerText(), "println!");
  assert.equal(await page.locator(".readme li.task .task-box").count(), 1);
  assert.equal(await page.locator(".tabs a").count(), 4);
  assert.equal(await page.locator('.words a[href="/search?q=sorting"]').count(), 1);
  assert.equal(await page.locator('.words a[href="/search?q=development-tools"]').count(), 1);
  assert.match(await page.locator("#toml-line").innerText(), /sortme10 = \{ version = "1\.0\.0", registry = "main" \}/);
  assert.equal(await page.locator("table.dense tbody tr").count(), 1);
});

await test("browsers get HTML 404s and canonical URLs", async () => {
  // The 404s asked for here log "failed to load" on the console: expected.
  const consoleBefore = consoleErrors.length;
  let r = await page.goto(`${base}/r/main/`);
  assert.equal(r.status(), 200);
  assert.equal(page.url(), `${base}/r/main`);
  r = await page.goto(`${base}/crates/hostile/versions`);
  assert.equal(r.status(), 200);
  assert.equal(page.url(), `${base}/crates/hostile#versions`);
  for (const path of ["/nothing/here", "/crates/nope", "/crates/hostile/9.9.9"]) {
    r = await page.goto(`${base}${path}`);
    assert.equal(r.status(), 404, path);
    assert.match(r.headers()["content-type"], /^text\/html/, path);
    assert.match(await page.locator("h1").innerText(), /404/, path);
  }
  consoleErrors.length = consoleBefore;
  const icon = await fetch(`${base}/favicon.ico`);
  assert.equal(icon.status, 200);
  assert.equal(icon.headers.get("content-type"), "image/x-icon");
  const robots = await (await fetch(`${base}/robots.txt`)).text();
  assert.match(robots, /Disallow: \/r\/\*\/index\//);
  const api = await fetch(`${base}/r/main/api/v1/nothing`, { headers: { Accept: "application/json" } });
  assert.equal(api.status, 404);
  assert.match(await api.text(), /"errors"/);
});

await test("the theme toggle switches and is remembered", async () => {
  await page.goto(`${base}/`);
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const light = await bg();
  await page.locator("#theme-toggle").click();
  assert.equal(await page.evaluate(() => document.documentElement.getAttribute("data-theme")), "dark");
  assert.notEqual(await bg(), light);
  await page.reload();
  assert.equal(await page.evaluate(() => document.documentElement.getAttribute("data-theme")), "dark");
  assert.equal(await page.locator("#theme-toggle").getAttribute("aria-pressed"), "true");
  await page.locator("#theme-toggle").click();
  await page.reload();
  assert.equal(await page.evaluate(() => document.documentElement.getAttribute("data-theme")), "light");
  assert.equal(await bg(), light);
});

await test("advisories on the crate page, and the policies page", async () => {
  const cliToken = berth(["token", "create", "--user", "admin"]).trim().split("\n").pop().trim();
  for (const v of ["0.1.0", "0.2.0"]) {
    publishCrate("leaky", v, cliToken, { description: "A crate with an advisory", readme: `# leaky ${v}\n` });
  }
  // A database written here (never a copy of a real advisory); 0.2.0 has the fix.
  const db = join(work, "advisory-db");
  mkdirSync(join(db, "crates", "leaky"), { recursive: true });
  writeFileSync(join(db, "README.md"), "# Test advisory database\n");
  writeFileSync(
    join(db, "crates", "leaky", "RUSTSEC-2026-0777.md"),
    "```toml\n[advisory]\nid = \"RUSTSEC-2026-0777\"\npackage = \"leaky\"\ndate = \"2026-03-04\"\n" +
      "url = \"https://example.invalid/advisories/RUSTSEC-2026-0777\"\ncategories = [\"memory-corruption\"]\n\n" +
      "[versions]\npatched = [\">= 0.2.0\"]\n```\n\n# Use after free in leaky\n\nWhat is wrong.\n",
  );
  assert.match(berth(["advisories", "import", db]), /in force: 1 advisory/);
  // The serving process loads it within its 2 s refresh.
  for (let i = 0; ; i++) {
    const list = await (await fetch(`${base}/api/v1/advisories?crate=leaky`)).json();
    if (list.advisories.length === 1) break;
    assert.ok(i < 150, "the server did not load the advisory set");
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.goto(`${base}/crates/leaky/0.1.0`);
  const banner = page.locator("#vulnerable");
  assert.match(await banner.innerText(), /affected by a vulnerability:\s+RUSTSEC-2026-0777: Use after free in leaky \(patched: >=0\.2\.0\)/);
  assert.equal(await page.locator('table.dense tr[aria-current] a.tag.bad').innerText(), "RUSTSEC-2026-0777");
  await banner.getByRole("link", { name: "RUSTSEC-2026-0777" }).click();
  assert.ok(page.url().endsWith("#advisory-RUSTSEC-2026-0777"));
  const entry = page.locator("#advisory-RUSTSEC-2026-0777");
  assert.match(await entry.innerText(), /vulnerability\s+Use after free in leaky/);
  assert.equal(await entry.locator("a").getAttribute("href"), "https://example.invalid/advisories/RUSTSEC-2026-0777");
  // The newest version has the fix: no banner.
  await page.goto(`${base}/crates/leaky`);
  assert.equal(await page.locator("#vulnerable").count(), 0);
  assert.equal(await page.locator("a.tag.bad").count(), 1, "only 0.1.0 is affected");
  // Through the proxy (whose policy blocks affected versions): said so, with the rule.
  assert.equal((await fetch(`${base}/r/public/index/le/ak/leaky`)).status, 200);
  await page.goto(`${base}/r/public/crates/leaky/0.1.0`);
  assert.match(await page.locator("#blocked").innerText(), /Blocked by the policy of public \(rule advisory\)/);
  assert.match(await page.locator("#vulnerable").innerText(), /RUSTSEC-2026-0777/);
  // The administrators' page: the set in force and the policy.
  await page.goto(`${base}/admin`);
  await page.getByRole("link", { name: "Policies" }).click();
  await page.waitForURL(`${base}/admin/policies`);
  assert.match(await page.locator("#set-count").innerText(), /1 advisory about 1 crate/);
  assert.match(await page.locator("section.registry").innerText(), /public[\s\S]*Policy: block advisories/);
});

const PHONE_PAGES = [
  "/", "/search?q=sort", "/search?q=sort&sort=name", "/r/main", "/r/public", "/r/company",
  "/crates/hostile", "/crates/sortme2", "/r/public/crates/sortme2", "/r/company/crates/sortme2",
  "/crates/leaky/0.1.0", "/r/public/crates/leaky/0.1.0",
  "/nothing/here", "/login", "/account", "/admin", "/admin/registries", "/admin/policies", "/admin/audit",
];

await test("no page scrolls sideways at 390 px", async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "light" });
  const p = await ctx.newPage();
  await logIn(p);
  const wide = [];
  for (const path of PHONE_PAGES) {
    await p.goto(`${base}${path}`);
    const [sw, iw] = await p.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    if (sw > iw) wide.push(`${path}: ${sw} > ${iw}`);
  }
  // The README comes before the sidebar on a phone.
  await p.goto(`${base}/crates/sortme2`);
  const readmeTop = await p.locator("#readme").evaluate((e) => e.getBoundingClientRect().top);
  const sideTop = await p.locator("aside.side").evaluate((e) => e.getBoundingClientRect().top);
  assert.ok(readmeTop < sideTop, `README at ${readmeTop}, sidebar at ${sideTop}`);
  await ctx.close();
  assert.deepEqual(wide, []);
});

await test("no dialog and no console error on any page", async () => {
  assert.deepEqual(dialogs, []);
  assert.deepEqual(consoleErrors, []);
});

if (process.env.UI_TEST_SCREENSHOTS === "1") {
  const dir = join(REPO, "docs", "screenshots");
  mkdirSync(dir, { recursive: true });
  for (const scheme of ["light", "dark"]) {
    const ctx = await browser.newContext({ colorScheme: scheme, viewport: { width: 1200, height: 800 } });
    const p = await ctx.newPage();
    await logIn(p);
    for (const [name, path] of [["home", "/"], ["crate", "/crates/sortme2"], ["proxy-crate", "/r/public/crates/sortme2"], ["search", "/search?q=sort"], ["account", "/account"], ["audit", "/admin/audit"]]) {
      await p.goto(`${base}${path}`);
      await p.screenshot({ path: join(dir, `${name}-${scheme}.png`) });
    }
    await p.setViewportSize({ width: 390, height: 844 });
    await p.goto(`${base}/crates/sortme2`);
    await p.screenshot({ path: join(dir, `crate-phone-${scheme}.png`) });
    await ctx.close();
  }
  console.log(`screenshots written to ${dir}`);
}

await browser.close();
server.kill("SIGTERM");
rmSync(work, { recursive: true, force: true });
const passed = results.filter(([, ok]) => ok).length;
const failed = results.length - passed;
console.log(`browser: ${passed} passed, ${failed} failed`);
if (failed > 0) {
  console.log(serverLog.split("\n").slice(-40).join("\n"));
  process.exit(1);
}
