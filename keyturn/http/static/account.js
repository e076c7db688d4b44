// keyturn /account page. No framework, no inline code (the page's CSP forbids it).
// Signing in, refreshing and signing out are keyturn's browser client
// (/keyturn.js, docs/web.md): the refresh token lives in an HttpOnly cookie
// the script never sees, the access token only in memory, one refresh for
// every tab, and a sign-out in one tab signs every tab out.
import { Keyturn } from "/keyturn.js";

const kt = new Keyturn();
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

function api(method, path, body) {
  const headers = body === undefined ? {} : { "Content-Type": "application/json" };
  return kt.fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
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
    cell(row, "Last active", s.current ? "just now" : ago(s.last_used_at), "when", s.last_used_at);
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
    await kt.login($("username").value, $("password").value);
    $("password").value = "";
    say("");  // the signedIn event shows the account
  } catch (err) {
    $("signin-error").textContent = err.message;
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
  $("sessions-body").replaceChildren();
  show(false);
  say(message || "");
  $("username").focus();
}

async function signOut() {
  await kt.logout();  // every tab of this site signs out with this one
}

async function changePassword(ev) {
  ev.preventDefault();
  $("password-error").textContent = "";
  const r = await api("POST", "/auth/password",
                      { current_password: $("current-password").value, new_password: $("new-password").value });
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
  kt.on("signedOut", () => signedOut("You are signed out."));
  kt.on("sessionEnded", () => signedOut("Your session ended. Sign in again."));
  // Here, from the cookie on load, or in another tab: show the account.
  kt.on("signedIn", load);
  if (!(await kt.resume())) show(false);
}

start();
