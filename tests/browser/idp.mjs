// A real OpenID provider for the browser tests: npm's `oidc-provider` on
// 127.0.0.1, with its own sign-in page (a login and a password, checked
// against an accounts file; Cancel answers access_denied) and automatic
// consent. The accounts file is
// read again at every sign-in and every claims request, so a test changes
// a person's groups by rewriting it:
//   { "alice": { "password": "...", "name": "Alice", "groups": ["platform-eng"] } }
// The account id is the `sub`; the claims are preferred_username, name,
// email and groups (released by the `groups` scope). PKCE is required,
// RP-initiated logout is on, clients authenticate with client_secret_basic.
// (On Node 20, oidc-provider prints that it wants Node 22; it works.)
import { createServer } from "node:http";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const html = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const page = (title, body) =>
  `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${html(title)}</title></head>` +
  `<body><main><h1>${html(title)}</h1>${body}</main></body></html>`;

// The provider's state in memory (codes, sessions, grants, interactions),
// one store per provider, with expiry, and the index of what each grant
// issued (a replayed code revokes it).
const memoryAdapter = () => {
  const store = new Map();
  const grants = new Map();
  const get = (key) => {
    const found = store.get(key);
    if (found && found.until <= Date.now()) store.delete(key);
    return found && found.until > Date.now() ? found.payload : undefined;
  };
  return class MemoryAdapter {
    constructor(model) {
      this.model = model;
    }
    key(id) {
      return `${this.model}:${id}`;
    }
    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      store.set(key, { payload, until: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
      if (this.model === "Session") store.set(`sessionUid:${payload.uid}`, { payload: id, until: Infinity });
      if (payload.grantId) {
        const keys = grants.get(payload.grantId) ?? new Set();
        keys.add(key);
        grants.set(payload.grantId, keys);
      }
    }
    async find(id) {
      return get(this.key(id));
    }
    async findByUid(uid) {
      const id = get(`sessionUid:${uid}`);
      return id === undefined ? undefined : this.find(id);
    }
    async findByUserCode() {
      return undefined;
    }
    async consume(id) {
      const payload = get(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId) {
      for (const key of grants.get(grantId) ?? []) store.delete(key);
      grants.delete(grantId);
    }
  };
};

/**
 * Starts a provider on 127.0.0.1:`port` (issuer `http://127.0.0.1:PORT`).
 * `clients`: oidc-provider client metadata (client_id, client_secret,
 * redirect_uris, post_logout_redirect_uris); `accountsFile`: the JSON file
 * of accounts. Returns `{ issuer, close() }`.
 */
export async function startIdp({ port, clients, accountsFile }) {
  const issuer = `http://127.0.0.1:${port}`;
  const accounts = () => JSON.parse(readFileSync(accountsFile, "utf8"));
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const signing = { ...privateKey.export({ format: "jwk" }), kid: "test-rs256", use: "sig", alg: "RS256" };

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    jwks: { keys: [signing] },
    cookies: { keys: [randomBytes(32).toString("hex")] },
    clients: clients.map((c) => ({
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
      ...c,
    })),
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = page(
            `Sign out of ${ctx.host}?`,
            `${form}<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>` +
              `<button type="submit" form="op.logoutForm">No, stay signed in</button>`,
          );
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = page("Signed out", "<p>You are signed out of the provider.</p>");
        },
      },
    },
    claims: {
      openid: ["sub"],
      profile: ["name", "preferred_username"],
      email: ["email"],
      groups: ["groups"],
    },
    async findAccount(_ctx, id) {
      if (!Object.hasOwn(accounts(), id)) return undefined;
      return {
        accountId: id,
        // Read at every claims request: the groups of now.
        async claims() {
          const a = accounts()[id] ?? {};
          return {
            sub: id,
            preferred_username: id,
            name: a.name ?? id,
            email: `${id}@example.test`,
            groups: a.groups ?? [],
          };
        },
      };
    },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 120,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    renderError: async (ctx, out) => {
      ctx.type = "html";
      ctx.body = page(
        "The provider refused the request",
        Object.entries(out).map(([k, v]) => `<p><strong>${html(k)}</strong>: ${html(v)}</p>`).join(""),
      );
    },
  });

  const loginForm = (uid, client, error = "") =>
    page(
      `Sign in to ${client}`,
      (error ? `<p role="alert" id="idp-error">${html(error)}</p>` : "") +
        `<form method="post" action="/interaction/${html(uid)}/login">` +
        `<label for="idp-login">Username</label><input id="idp-login" name="login" autofocus>` +
        `<label for="idp-password">Password</label><input id="idp-password" name="password" type="password">` +
        `<button type="submit">Sign in</button></form>` +
        `<form method="post" action="/interaction/${html(uid)}/abort"><button type="submit">Cancel</button></form>`,
    );

  const readForm = (req) =>
    new Promise((resolve, reject) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (d) => {
        body += d;
        if (body.length > 65536) reject(new Error("form too large"));
      });
      req.on("end", () => resolve(new URLSearchParams(body)));
      req.on("error", reject);
    });

  // The sign-in page: the provider asks for `login`, this checks the
  // password; `consent` is given at once for what the client asked.
  const interaction = async (req, res, path) => {
    const details = await provider.interactionDetails(req, res);
    const { uid, prompt, params } = details;
    const send = (status, body) => {
      res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method === "GET" && path === `/interaction/${uid}` && prompt.name === "login") {
      return send(200, loginForm(uid, params.client_id));
    }
    if (req.method === "POST" && path === `/interaction/${uid}/login` && prompt.name === "login") {
      const form = await readForm(req);
      const login = form.get("login") ?? "";
      const account = Object.hasOwn(accounts(), login) ? accounts()[login] : undefined;
      if (!account || account.password !== (form.get("password") ?? "")) {
        return send(401, loginForm(uid, params.client_id, "Wrong username or password."));
      }
      return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    }
    if (req.method === "POST" && path === `/interaction/${uid}/abort`) {
      const result = { error: "access_denied", error_description: "End-User aborted interaction" };
      return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    }
    if (req.method === "GET" && path === `/interaction/${uid}` && prompt.name === "consent") {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(" "));
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
    }
    return send(400, page("Unexpected interaction", `<p>${html(req.method)} ${html(path)} at prompt ${html(prompt.name)}</p>`));
  };

  const handle = provider.callback();
  const server = createServer((req, res) => {
    const path = new URL(req.url, issuer).pathname;
    if (path.startsWith("/interaction/")) {
      interaction(req, res, path).catch((e) => {
        if (!res.headersSent) res.writeHead(400, { "content-type": "text/html; charset=utf-8" });
        res.end(page("Interaction failed", `<p>${html(e.message)}</p>`));
      });
      return;
    }
    handle(req, res);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    issuer,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
