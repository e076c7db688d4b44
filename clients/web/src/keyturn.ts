/**
 * keyturn's browser client: keeps a person signed in across every tab of a
 * site with one refresh at a time, signs every tab out together, and
 * optionally binds the session to a non-extractable key (DPoP, RFC 9449).
 * Served by keyturn at `/keyturn.js` (types at `/keyturn.d.ts`); see docs/web.md.
 *
 * Why it is shaped like this: keyturn rotates the refresh token on every use
 * and treats an old token coming back as theft. Tabs that refresh on their own
 * would race each other into that alarm, so every refresh goes through one
 * lock shared by the tabs (Web Locks), and the winner hands the new access
 * token to the others (BroadcastChannel) instead of letting them refresh too.
 */

/** Where the refresh token lives when the app keeps it (token mode). */
export interface TokenStore {
  get(): string | null | Promise<string | null>;
  set(refreshToken: string | null): unknown;
}

export interface Options {
  /** `"cookie"` (default): the refresh token stays in keyturn's HttpOnly
   * cookie, out of script's reach. `"token"`: the app keeps it in `store`. */
  mode?: "cookie" | "token";
  store?: TokenStore;
  /** Bind the session to a non-extractable WebCrypto key kept in IndexedDB. */
  dpop?: boolean;
  /** Origins besides this page's that may receive the access token. */
  origins?: string[];
  /** Tabs with the same name share one session (default `"keyturn"`). */
  name?: string;
}

/** The access token's payload: what keyturn vouches for plus the app's claims. */
export interface Claims {
  sub: string;
  sid: string;
  exp: number;
  iat: number;
  scope?: string;
  [claim: string]: unknown;
}

export interface Events {
  signedIn: Claims;
  refreshed: Claims;
  /** The session ended elsewhere: `reason` is keyturn's error code
   * (`session_revoked`, `refresh_token_reused`, `refresh_token_expired`, …). */
  sessionEnded: { reason: string };
  signedOut: Record<string, never>;
}

/** A refused login: `code` is keyturn's stable error code. */
export interface KeyturnError extends Error {
  code: string;
  status: number;
}

interface Shared {
  t: string; // access token
  y: string; // token type: Bearer or DPoP
  e: number; // expiry, server clock, ms
  l: number; // lifetime, ms
  s: number; // server clock minus ours, ms
}

type Message =
  | ({ k: "tok" } & Shared)
  | { k: "ask"; e: number }
  | { k: "end" | "out"; sid: string; r?: string }
  | { k: "claim"; id: number; t: number };

const text = new TextEncoder();
const b64u = (b: ArrayBuffer | Uint8Array): string =>
  btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const enc = (o: unknown) => b64u(text.encode(JSON.stringify(o)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const codeOf = async (r: Response): Promise<string> => (await r.clone().json().catch(() => ({}))).code || "";
// 401 codes a refresh can cure: the access token alone is stale or revoked.
const CURABLE = /^(token_expired|token_revoked|signing_key_revoked)$/;

/** One IndexedDB request in its own transaction (the DPoP key's home). */
const idb = (mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest): Promise<any> =>
  new Promise((ok, no) => {
    const o = indexedDB.open("keyturn");
    o.onupgradeneeded = () => o.result.createObjectStore("k");
    o.onerror = no;
    o.onsuccess = () => {
      const db = o.result, t = db.transaction("k", mode), r = f(t.objectStore("k"));
      t.oncomplete = () => (db.close(), ok(r.result));
      t.onabort = () => (db.close(), no(t.error));
    };
  });

export class Keyturn {
  private o: Options;
  private n: string;
  private tok: string | null = null;
  private type = "Bearer";
  private exp = 0;
  private life = 0;
  private skew = 0;
  private sid = "";
  private busy: Promise<boolean> | null = null;
  private timer?: ReturnType<typeof setTimeout>;
  private bc?: BroadcastChannel;
  private fns: { [E in keyof Events]?: ((d: Events[E]) => void)[] } = {};
  private key?: Promise<CryptoKeyPair>;
  private wake = () => {};
  private cl: { id: number; t: number }[] = [];

  constructor(options: Options = {}) {
    this.o = options;
    this.n = options.name || "keyturn";
    if (options.mode == "token" && !options.store) throw new TypeError("keyturn: token mode needs a store");
    if (options.dpop && !crypto.subtle) {
      console.warn("keyturn: no WebCrypto here (not a secure context?): DPoP is off");
      options.dpop = false;
    }
    if (typeof BroadcastChannel == "function") {
      this.bc = new BroadcastChannel(this.n);
      this.bc.onmessage = (e) => this.msg(e.data);
    }
    // Back from sleep, from offline or to the foreground: refresh now if due.
    const check = () => this.tok && this.due() && this.run(undefined);
    addEventListener("online", check);
    document.addEventListener("visibilitychange", () => document.visibilityState == "visible" && check());
  }

  /** Subscribe to an event; returns the unsubscribe function. */
  on<E extends keyof Events>(event: E, fn: (detail: Events[E]) => void): () => void {
    const list: any[] = (this.fns[event] ||= []);
    list.push(fn);
    return () => list.splice(list.indexOf(fn) >>> 0, 1);
  }

  /** The current access token's claims (roles, scope, …), or null when signed out. */
  claims(): Claims | null {
    if (!this.tok) return null;
    const p = atob(this.tok.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(p, (c) => c.charCodeAt(0))));
  }

  /** A valid access token (refreshed first when due), or null when signed out. */
  async accessToken(): Promise<string | null> {
    if (this.tok && this.due()) await this.run(undefined);
    return this.tok;
  }

  /** Sign in with a username and password; throws a `KeyturnError` when refused. */
  async login(username: string, password: string): Promise<Claims> {
    const body = { username, password };
    let r = await this.call("/auth/login", body);
    if (this.o.dpop && (await codeOf(r)) == "invalid_dpop_proof") {
      // Our clock is off: date the proof by the server's clock and try once more.
      this.skew = Date.parse(r.headers.get("date") || "") - Date.now() || 0;
      r = await this.call("/auth/login", body);
    }
    if (!r.ok) {
      const e = await r.json().catch(() => ({}));
      throw Object.assign(new Error(e.error_description || "login failed (" + r.status + ")"), {
        code: e.code || "", status: r.status,
      });
    }
    await this.accept(await r.json(), "signedIn");
    return this.claims()!;
  }

  /** On page load: take the session over from another tab, or from the
   * refresh token, if there is one. Makes no request that could only fail. */
  async resume(): Promise<boolean> {
    if (this.tok) return true;
    if (this.o.mode == "token" ? !(await this.o.store!.get()) : !(this.mark() > Date.now())) return false;
    this.post({ k: "ask", e: 0 });
    await this.until(250);
    return !!this.tok || this.run(undefined);
  }

  /** Refresh now (one refresh for all tabs); false when it failed. */
  refresh(): Promise<boolean> {
    return this.run(this.tok);
  }

  /** `seen`: the token the server refused (undefined: refresh only if due). */
  private run(seen: string | null | undefined): Promise<boolean> {
    const was = this.tok;
    return (this.busy ||= this.lock((wait) => this.go(was, seen, wait)).finally(() => (this.busy = null)));
  }

  /** `fetch` with the access token (and DPoP proof) attached for keyturn and
   * the `origins` allowed; one refresh and one retry when a refresh can help. */
  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const req = new Request(input, init);
    const { origin } = new URL(req.url);
    if (origin != location.origin && !this.o.origins?.includes(origin)) return fetch(req);
    await this.accessToken();
    const used = this.tok;
    const r = await this.send(req.clone());
    return r.status == 401 && used && CURABLE.test(await codeOf(r)) && (await this.run(used)) ? this.send(req) : r;
  }

  /** Sign out this session, in every tab. */
  async logout(): Promise<void> {
    if (this.tok) await this.fetch("/auth/logout", { method: "POST" }).catch(() => 0);
    this.drop("signedOut", {}, "out");
  }

  // --- internals -------------------------------------------------------------

  private emit<E extends keyof Events>(event: E, detail: Events[E]) {
    for (const f of this.fns[event] || []) {
      try {
        f(detail);
      } catch (e) {
        reportError(e);
      }
    }
  }

  private post(m: Message) {
    this.bc?.postMessage(m);
  }

  private msg(m: Message) {
    if (m.k == "tok") {
      if (m.e > this.exp) this.set(m);
    } else if (m.k == "ask") {
      if (this.tok && this.exp > m.e) this.post(this.shared());
    } else if (m.k == "claim") {
      this.cl = this.cl.filter((c) => Date.now() - c.t < 3000).concat(m);
    } else if (m.sid == this.sid) {
      this.drop(m.k == "out" ? "signedOut" : "sessionEnded", m.k == "out" ? {} : { reason: m.r! });
    }
  }

  private shared(): Message {
    return { k: "tok", t: this.tok!, y: this.type, e: this.exp, l: this.life, s: this.skew };
  }

  /** Until when (local clock) the refresh cookie lives; a hint, not a secret. */
  private mark(until?: number): number {
    try {
      if (until != null) localStorage.setItem(this.n, String(until));
      return Number(localStorage.getItem(this.n));
    } catch {
      return 0;
    }
  }

  private due() {
    // By the server's clock: our clock plus the offset measured at receipt.
    return Date.now() + this.skew >= this.exp - Math.min(60000, this.life / 5);
  }

  private schedule() {
    clearTimeout(this.timer);
    if (!this.tok) return;
    const wait = this.exp - Math.min(60000, this.life / 5) - this.skew - Date.now();
    // Wake at least every 5 s: a timer may sleep with the laptop and fire late.
    this.timer = setTimeout(() => (this.due() ? this.run(undefined) : this.schedule()), Math.min(Math.max(wait, 0), 5000));
  }

  private until(ms: number) {
    return new Promise<void>((r) => {
      const prev = this.wake;
      this.wake = () => (prev(), r());
      setTimeout(r, ms);
    });
  }

  private set(s: Shared, event?: "signedIn") {
    const old = this.tok && this.sid;
    ({ t: this.tok, y: this.type, e: this.exp, l: this.life, s: this.skew } = s);
    const claims = this.claims()!;
    this.sid = claims.sid;
    this.schedule();
    this.wake();
    this.wake = () => {};
    // Another session (someone signed in again elsewhere) is a new sign-in.
    this.emit(event || (old == claims.sid ? "refreshed" : "signedIn"), claims);
  }

  private async accept(a: any, event?: "signedIn") {
    const now = Date.now();
    // issued_at is whole seconds: the server's clock is up to 1 s past it, so
    // count it as 1 s past (refresh a little early, never late).
    const issued = Date.parse(a.issued_at) + 1000;
    if (this.o.mode == "token") await this.o.store!.set(a.refresh_token);
    else this.mark(now + a.refresh_token_expires_in * 1000);
    this.set({ t: a.access_token, y: a.token_type, e: issued - 1000 + a.expires_in * 1000, l: a.expires_in * 1000, s: issued - now }, event);
    this.post(this.shared());
  }

  private drop<E extends "signedOut" | "sessionEnded">(event: E, detail: Events[E], tell?: "end" | "out") {
    const sid = this.sid;
    this.tok = null;
    this.exp = 0;
    this.sid = "";
    clearTimeout(this.timer);
    if (tell) {
      this.post({ k: tell, sid, r: (detail as any).reason });
      if (this.o.mode == "token") this.o.store!.set(null);
      else this.mark(0);
    }
    if (sid) this.emit(event, detail);
  }

  /** One holder at a time across the tabs; `fn` learns how long to wait for
   * a token another tab may just have got (0: nobody was ahead of us). */
  private lock(fn: (wait: number) => Promise<boolean>): Promise<boolean> {
    const L = navigator.locks;
    if (L) return L.request(this.n, { ifAvailable: true }, (l) => (l ? fn(0) : L.request(this.n, () => fn(250))));
    // Fallback: announce a claim; the earliest (tabs share the clock; the
    // lower id breaks a tie) goes ahead, the others wait for its token.
    const id = Math.random(), t = Date.now();
    this.post({ k: "claim", id, t });
    return sleep(60).then(() => fn(this.cl.some((c) => t - c.t < 3000 && (c.t < t || (c.t == t && c.id < id))) ? 3000 : 0));
  }

  private async go(was: string | null, seen: string | null | undefined, wait: number): Promise<boolean> {
    // Fresh enough, or newer than the token the server refused: someone refreshed.
    const fresh = () => this.tok && !this.due() && (seen === undefined || this.tok != seen);
    if (fresh()) return true;
    if (wait) {
      this.post({ k: "ask", e: this.exp });
      await this.until(wait);
      if (fresh()) return true;
    }
    if ((was || seen) && !this.tok) return false; // signed out or ended meanwhile
    let r: Response;
    try {
      r = await this.call("/auth/refresh", this.o.mode == "token" ? { refresh_token: await this.o.store!.get() } : undefined);
    } catch {
      return false; // offline: nothing changed, try again later
    }
    if (r.ok) {
      await this.accept(await r.json());
      return true;
    }
    if (r.status < 500 && r.status != 429 && r.status != 408) {
      this.drop("sessionEnded", { reason: (await codeOf(r)) || "refresh_failed" }, "end");
    } else if (this.tok) {
      this.timer = setTimeout(() => this.run(undefined), 5000);
    }
    return false;
  }

  private async call(path: string, body?: object): Promise<Response> {
    const url = new URL(path, location.href).href;
    const h: Record<string, string> = {};
    if (this.o.mode != "token") h["X-Keyturn-Cookie"] = "1";
    if (body) h["Content-Type"] = "application/json";
    if (this.o.dpop) h.DPoP = await this.proof("POST", url);
    return fetch(url, { method: "POST", headers: h, body: body && JSON.stringify(body), credentials: "same-origin" });
  }

  private async send(req: Request): Promise<Response> {
    if (this.tok) {
      req.headers.set("Authorization", this.type + " " + this.tok);
      if (this.type == "DPoP") req.headers.set("DPoP", await this.proof(req.method, req.url, this.tok));
    }
    return fetch(req);
  }

  /** The tab's key pair: made once, non-extractable, shared by the tabs. */
  private pair(): Promise<CryptoKeyPair> {
    return (this.key ||= idb("readonly", (s) => s.get("dpop")).then(
      (k) =>
        k ||
        crypto.subtle
          .generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"])
          .then((k) => idb("readwrite", (s) => s.add(k, "dpop")).catch(() => 0))
          .then(() => idb("readonly", (s) => s.get("dpop"))),
    ));
  }

  /** An RFC 9449 proof for one request, dated by the server's clock. */
  private async proof(htm: string, url: string, at?: string): Promise<string> {
    const k = await this.pair();
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", k.publicKey);
    const p: Record<string, unknown> = {
      jti: crypto.randomUUID(), htm, htu: url.split(/[?#]/)[0], iat: Math.floor((Date.now() + this.skew) / 1000),
    };
    if (at) p.ath = b64u(await crypto.subtle.digest("SHA-256", text.encode(at)));
    const s = enc({ typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } }) + "." + enc(p);
    return s + "." + b64u(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, k.privateKey, text.encode(s)));
  }
}
