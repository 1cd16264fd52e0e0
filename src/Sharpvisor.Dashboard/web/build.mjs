// Bundles the dashboard: src/main.js (and the xterm.css it imports) into app.js and app.css, plus index.html, in the
// folder named by the first argument. Minified, no source maps: the daemon embeds exactly these three files.
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";

const out = process.argv[2];
if (!out) {
  console.error("build.mjs: name the output folder");
  process.exit(2);
}
await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: "src/main.js" },
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  outdir: out,
  logLevel: "warning",
});
await copyFile("src/index.html", join(out, "index.html"));
