// A typed app against the declarations keyturn serves at /keyturn.d.ts.
// The page maps the bare name with an import map:
//   <script type="importmap">{"imports": {"keyturn": "/keyturn.js"}}</script>
// The tests run `tsc --noEmit` over it, so the published types stay usable.
import { Keyturn, type Claims, type KeyturnError, type TokenStore } from "keyturn";

const store: TokenStore = {
  get: () => localStorage.getItem("refresh"),
  set: (token) => (token === null ? localStorage.removeItem("refresh") : localStorage.setItem("refresh", token)),
};
const kt = new Keyturn({ mode: "token", store, dpop: true, origins: ["https://api.example.com"] });

function canEdit(claims: Claims | null): boolean {
  const roles = claims?.roles;
  return Array.isArray(roles) && roles.includes("editor") || (claims?.scope ?? "").split(" ").includes("notes:write");
}

const stop = kt.on("refreshed", (claims) => console.log("token until", new Date(claims.exp * 1000)));
kt.on("sessionEnded", ({ reason }: { reason: string }) => console.log("session ended:", reason));
kt.on("signedOut", () => stop());

export async function main(username: string, password: string): Promise<void> {
  if (!(await kt.resume())) {
    try {
      await kt.login(username, password);
    } catch (err) {
      const e = err as KeyturnError;
      if (e.code === "invalid_credentials") return;
      throw e;
    }
  }
  const r: Response = await kt.fetch("https://api.example.com/notes", { method: "POST", body: "{}" });
  const token: string | null = await kt.accessToken();
  console.log(r.status, token !== null, canEdit(kt.claims()), await kt.refresh());
  await kt.logout();
}
