// keyturn /account page. No framework, no inline code (the page's CSP forbids it).
// The refresh token never reaches this script: it lives in an HttpOnly cookie.
// The access token lives only in memory and is refreshed before it expires.
"use strict";

(function () {
  const COOKIE = { "X-Keyturn-Cookie": "1" };  // CSRF proof for cookie calls
  // The cookie is HttpOnly, so the script cannot see whether there is one.
  // It remembers instead until when the last answer said the cookie lives,
  // and asks for a refresh only then: a first visit makes no failing call.
  const HINT = "keyturn.account.until";
  const state = { access: null, timer: 0, inflight: null };
  const $ = (id) => document.getElementById(id);

  function say(text, bad) {
    const el = $("status");
    el.textContent = text || "";
    el.classList.toggle("bad", Boolean(bad));
  }

  function show(signedIn) {
    $("signin").hidden = signedIn;
    $("account").hidden = !signedIn;
    $("who").hidden = !signedIn;
  }

  // --- tokens --------------------------------------------------------------

  function remember(seconds) {
    try {
      if (seconds > 0) localStorage.setItem(HINT, String(Date.now() + seconds * 1000));
      else localStorage.removeItem(HINT);
    } catch (e) { /* storage disabled: every visit starts at the sign-in form */ }
  }

  function maybeSignedIn() {
    try { return Number(localStorage.getItem(HINT)) > Date.now(); } catch (e) { return false; }
  }

  function accept(body) {
    state.access = body.access_token;
    remember(Number(body.refresh_token_expires_in) || 0);
    clearTimeout(state.timer);
    // Schedule from the server's own times, so a wrong local clock does not
    // matter: refresh at 80% of the access token's life (at most 60 s early).
    const life = Date.parse(body.access_token_expires_at) - Date.parse(body.issued_at);
    const ttl = Number.isFinite(life) && life > 0 ? life : body.expires_in * 1000;
    const early = Math.min(60000, ttl * 0.2);
    state.timer = setTimeout(() => { refresh().then((ok) => { if (!ok) signedOut("Your session ended. Sign in again."); }); },
                             Math.max(1000, ttl - early));
  }

  function forget() {
    state.access = null;
    clearTimeout(state.timer);
    remember(0);
  }

  // Single flight: however many callers ask at once, one refresh goes out
  // (two would look like a stolen token to a rotating server).
  function refresh() {
    if (!state.inflight) {
      state.inflight = fetch("/auth/refresh", { method: "POST", headers: COOKIE, credentials: "same-origin" })
        .then(async (r) => {
          if (!r.ok) { forget(); return false; }
          accept(await r.json());
          return true;
        })
        .catch(() => false)
        .finally(() => { state.inflight = null; });
    }
    return state.inflight;
  }

  async function api(method, path, body, retried) {
    const headers = { Authorization: "Bearer " + state.access };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                  credentials: "same-origin" });
    if (r.status === 401 && !retried) {
      const err = await r.clone().json().catch(() => ({}));
      if (err.code === "token_expired" && await refresh()) return api(method, path, body, true);
      if (err.code !== "invalid_credentials") { signedOut("Your session ended. Sign in again."); throw new Error("signed out"); }
    }
    return r;
  }

  async function problem(r) {
    const err = await r.json().catch(() => ({}));
    return err.error_description || ("request failed (" + r.status + ")");
  }

  // --- rendering ------------------------------------------------------------

  function device(ua) {
    if (!ua) return "Unknown device";
    const browsers = [[/Edg\//, "Edge"], [/OPR\//, "Opera"], [/Firefox\//, "Firefox"], [/HeadlessChrome/, "Headless Chrome"],
      [/Chrom(e|ium)\//, "Chrome"], [/Safari\//, "Safari"], [/^curl\//, "curl"], [/python-httpx/, "Python (httpx)"],
      [/python-requests/, "Python (requests)"], [/okhttp/, "Android app"]];
    const systems = [[/Windows/, "Windows"], [/iPhone|iPad/, "iOS"], [/Mac OS X|Macintosh/, "macOS"],
      [/Android/, "Android"], [/CrOS/, "ChromeOS"], [/Linux/, "Linux"]];
    const b = browsers.find(([re]) => re.test(ua));
    const s = systems.find(([re]) => re.test(ua));
    const name = b ? b[1] : ua.split(/[\s/]/)[0].slice(0, 40);
    return s ? name + " on " + s[1] : name;
  }

  const dateFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

  function ago(iso) {
    const t = Date.parse(iso);
    const s = Math.round((Date.now() - t) / 1000);
    if (!Number.isFinite(s)) return "—";
    if (s < 60) return "just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return dateFmt.format(t);
  }

  // Each cell carries its column's name, shown beside the value when the
  // rows are stacked as cards on a narrow screen.
  function cell(row, label, text, cls, title) {
    const td = row.insertCell();
    td.textContent = text;
    if (label) td.dataset.label = label;
    if (cls) td.className = cls;
    if (title) td.title = title;
    return td;
  }

  function renderSessions(list) {
    const body = $("sessions-body");
    body.replaceChildren();
    for (const s of list) {
      const row = body.insertRow();
      row.dataset.sessionId = s.id;
      if (s.current) row.className = "current";
      const dev = row.insertCell();
      dev.className = "dev";
      const name = document.createElement("span");
      name.className = "device";
      name.textContent = device(s.user_agent);
      dev.append(name);
      if (s.current) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "This device";
        dev.append(badge);
      }
      const ua = document.createElement("span");
      ua.className = "ua";
      ua.textContent = s.user_agent || "";
      ua.title = s.user_agent || "";
      dev.append(ua);
      cell(row, "IP address", s.ip || "unknown", "mono");
      cell(row, "Signed in", dateFmt.format(Date.parse(s.created_at)), "when", s.created_at);
      cell(row, "Last active", s.current ? "now" : ago(s.last_used_at), "when", s.last_used_at);
      const act = cell(row, "", "", "action");
      if (!s.current) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "link";
        b.textContent = "Sign out";
        b.setAttribute("aria-label", "Sign out " + device(s.user_agent) + " from " + (s.ip || "unknown address"));
        b.addEventListener("click", () => signOutSession(s, b));
        act.append(b);
      }
    }
    const others = list.filter((s) => !s.current).length;
    $("sessions-summary").textContent = others === 0 ? "Only this device is signed in."
      : "This device and " + others + " other session" + (others === 1 ? "" : "s") + ".";
    $("signout-others").disabled = others === 0;
  }

  async function load() {
    const [me, sessions] = await Promise.all([api("GET", "/auth/me"), api("GET", "/auth/sessions")]);
    if (!me.ok || !sessions.ok) { say(await problem(me.ok ? sessions : me), true); return; }
    const username = (await me.json()).username;
    $("who").textContent = "Signed in as " + username;
    $("password-username").value = username;  // for password managers
    renderSessions((await sessions.json()).sessions);
    show(true);
  }

  // --- actions ------------------------------------------------------------

  async function signIn(ev) {
    ev.preventDefault();
    const button = $("signin-button");
    $("signin-error").textContent = "";
    button.disabled = true;
    try {
      const r = await fetch("/auth/login", {
        method: "POST", credentials: "same-origin",
        headers: { ...COOKIE, "Content-Type": "application/json" },
        body: JSON.stringify({ username: $("username").value, password: $("password").value }),
      });
      if (!r.ok) { $("signin-error").textContent = await problem(r); return; }
      $("password").value = "";
      accept(await r.json());
      say("");
      await load();
    } finally {
      button.disabled = false;
    }
  }

  async function signOutSession(s, button) {
    button.disabled = true;
    const r = await api("DELETE", "/auth/sessions/" + encodeURIComponent(s.id));
    say(r.ok ? "Signed out " + device(s.user_agent) + "." : await problem(r), !r.ok);
    await load();
  }

  async function signOutOthers() {
    const r = await api("POST", "/auth/logout-others");
    say(r.ok ? "Every other session is signed out." : await problem(r), !r.ok);
    await load();
  }

  function signedOut(message) {
    forget();
    $("sessions-body").replaceChildren();
    show(false);
    say(message || "");
    $("username").focus();
  }

  async function signOut() {
    const r = await api("POST", "/auth/logout");
    if (r.ok || r.status === 401) signedOut("You are signed out.");
    else say(await problem(r), true);
  }

  async function changePassword(ev) {
    ev.preventDefault();
    $("password-error").textContent = "";
    const r = await api("POST", "/auth/password",
                        { current_password: $("current-password").value, new_password: $("new-password").value }, false);
    if (!r.ok) { $("password-error").textContent = await problem(r); return; }
    $("current-password").value = "";
    $("new-password").value = "";
    say("Password changed. Every other session is signed out.");
    await load();
  }

  async function start() {
    $("signin-form").addEventListener("submit", signIn);
    $("password-form").addEventListener("submit", changePassword);
    $("signout").addEventListener("click", signOut);
    $("signout-others").addEventListener("click", signOutOthers);
    if (maybeSignedIn() && await refresh()) await load();
    else show(false);
  }

  start();
})();
