// Berth's one script: copy buttons and search results as you type.
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
    item.append(link, ver);
    if (hit.description) {
      const p = document.createElement("p");
      p.textContent = hit.description;
      item.appendChild(p);
    }
    const meta = document.createElement("p");
    meta.className = "meta";
    meta.textContent = hit.downloads + " downloads";
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
    const params = new URLSearchParams({ r: data.registry, q: data.q, page: String(n) });
    a.href = "/search?" + params.toString();
    a.rel = rel;
    a.textContent = label;
    pager.appendChild(a);
  };
  if (data.page > 1) page(data.page - 1, "Previous", "prev");
  if (data.page < data.pages) page(data.page + 1, "Next", "next");
}

function setupSearch() {
  const form = document.getElementById("search-form");
  if (!form) return;
  const input = document.getElementById("q");
  const registry = document.getElementById("r");
  const results = document.getElementById("results");
  const status = document.getElementById("search-status");
  const pager = document.getElementById("pager");
  let timer = null;
  let seq = 0;
  const run = () => {
    const params = new URLSearchParams({ r: registry.value, q: input.value });
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
}

document.addEventListener("DOMContentLoaded", setupSearch);
