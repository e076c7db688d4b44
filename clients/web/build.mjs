// Build the browser module: one minified ES module plus its type
// declarations, into the folder given (keyturn/http/static for the copy
// keyturn serves; a scratch folder for the test that compares the two).
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || "dist");
await build({
  entryPoints: [join(here, "src/keyturn.ts")],
  outfile: join(out, "keyturn.js"),
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: true,
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
});
execFileSync(join(here, "node_modules/.bin/tsc"),
  ["-p", join(here, "tsconfig.json"), "--emitDeclarationOnly", "--outDir", out], { stdio: "inherit" });
