// Berth's one script: copy buttons, search results as you type, the `/`
// shortcut to the search box, and the light/dark theme toggle.
// Loaded as an external file (the CSP allows no inline script); the pages
// work without it.
"use strict";

function copyText(text, button) {
  const done = () => {
    const label = button.textContent;
    button.textContent = "Copied";
    button.setAttribute("data-copied", "true");
    setTimeout(() => { button.textContent = label; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text) && done());
  } else if (fallbackCopy(text)) {
    done();
  }
}

function fallbackCopy(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "absolute";
  area.style.left = "-9999px";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  area.remove();
  return ok;
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.getAttribute("data-copy"));
  if (source) copyText(source.textContent.trim() + "\n", button);
});

function renderResults(data, results, status, pager) {
  results.replaceChildren();
  const list = document.createElement("ul");
  list.className = "crates";
  for (const hit of data.hits) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = hit.url;
    const strong = document.createElement("strong");
    strong.textContent = hit.name;
    link.appendChild(strong);
    const ver = document.createElement("span");
    ver.className = "ver";
    ver.textContent = " " + hit.version;
    const reg = document.createElement("span");
    reg.className = "tag";
    reg.textContent = hit.registry;
    item.append(link, ver, " ", reg);
    if (hit.description) {
      const p = document.createElement("p");
      p.textContent = hit.description;
      item.appendChild(p);
    }
    if (hit.keywords && hit.keywords.length) {
      const words = document.createElement("p");
      words.className = "words";
      for (const w of hit.keywords) {
        const a = document.createElement("a");
        a.className = "tag";
        a.href = "/search?" + new URLSearchParams({ q: w }).toString();
        a.textContent = "#" + w;
        words.append(a, " ");
      }
      item.appendChild(words);
    }
    const meta = document.createElement("p");
    meta.className = "meta";
    const parts = [];
    if (hit.downloads !== null) parts.push(hit.downloads + (hit.downloads === 1 ? " download" : " downloads"));
    if (hit.updated) parts.push("updated " + hit.updated);
    meta.textContent = parts.join(" · ");
    item.appendChild(meta);
    list.appendChild(item);
  }
  if (data.hits.length === 0) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No crates match.";
    list.appendChild(empty);
  }
  results.appendChild(list);
  status.textContent = data.total + (data.total === 1 ? " result" : " results") +
    (data.pages > 1 ? " · page " + data.page + " of " + data.pages : "");
  pager.replaceChildren();
  const page = (n, label, rel) => {
    const a = document.createElement("a");
    const params = searchParams(data.q, data.registry, data.sort);
    params.set("page", String(n));
    a.href = "/search?" + params.toString();
    a.rel = rel;
    a.textContent = label;
    pager.appendChild(a);
  };
  if (data.page > 1) page(data.page - 1, "Previous", "prev");
  if (data.page < data.pages) page(data.page + 1, "Next", "next");
}

function searchParams(q, registry, sort) {
  const params = new URLSearchParams({ q });
  if (registry) params.set("r", registry);
  if (sort && sort !== "relevance") params.set("sort", sort);
  return params;
}

function setupSearch() {
  const form = document.getElementById("search-form");
  if (!form) return;
  const input = document.getElementById("q");
  const registry = document.getElementById("r");
  const sort = document.getElementById("sort");
  const results = document.getElementById("results");
  const status = document.getElementById("search-status");
  const pager = document.getElementById("pager");
  let timer = null;
  let seq = 0;
  const run = () => {
    const params = searchParams(input.value, registry.value, sort ? sort.value : "");
    const mine = ++seq;
    fetch("/search.json?" + params.toString(), { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((data) => {
        if (mine !== seq) return;
        renderResults(data, results, status, pager);
        history.replaceState(null, "", "/search?" + params.toString());
      })
      .catch(() => { status.textContent = "Search failed; press Enter to try again."; });
  };
  const soon = () => { clearTimeout(timer); timer = setTimeout(run, 150); };
  input.addEventListener("input", soon);
  registry.addEventListener("change", run);
  if (sort) sort.addEventListener("change", run);
}

document.addEventListener("DOMContentLoaded", setupSearch);

// The theme: light or dark as chosen with the header's button (kept in
// localStorage), else as the system prefers. Set before the page paints.
const THEME_KEY = "berth-theme";
function storedTheme() {
  try { return localStorage.getItem(THEME_KEY); } catch (e) { return null; }
}
function currentTheme() {
  const chosen = document.documentElement.getAttribute("data-theme");
  if (chosen === "light" || chosen === "dark") return chosen;
  return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}
(function applyStoredTheme() {
  const t = storedTheme();
  if (t === "light" || t === "dark") document.documentElement.setAttribute("data-theme", t);
})();

function setupTheme() {
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  const show = () => {
    const dark = currentTheme() === "dark";
    button.setAttribute("aria-pressed", dark ? "true" : "false");
    button.textContent = dark ? "Light" : "Dark";
    button.title = dark ? "Switch to the light theme" : "Switch to the dark theme";
  };
  button.addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    document.documentElement.setAttribute("data-theme", next);
    try { localStorage.setItem(THEME_KEY, next); } catch (e) { /* private mode */ }
    show();
  });
  show();
}

// `/` focuses the search box (unless typing in a field already).
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  const t = event.target;
  if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  const box = document.getElementById("q") || document.getElementById("top-q");
  if (!box) return;
  event.preventDefault();
  box.focus();
  box.select();
});

document.addEventListener("DOMContentLoaded", setupTheme);
