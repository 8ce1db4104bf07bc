// Bundle the dashboard into ../collector/static: index.html plus content-hashed assets.
// Usage: node build.mjs [--outdir DIR]
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outIndex = args.indexOf("--outdir");
const outdir = resolve(outIndex >= 0 ? args[outIndex + 1] : join(here, "..", "collector", "static"));
const assets = join(outdir, "assets");

await rm(outdir, { recursive: true, force: true });
await mkdir(assets, { recursive: true });

const result = await build({
  entryPoints: [join(here, "src", "main.ts")],
  bundle: true,
  minify: true,
  sourcemap: "linked",
  format: "esm",
  target: ["es2022"],
  outdir: assets,
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  metafile: true,
  legalComments: "eof",
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const script = outputs.find((n) => n.endsWith(".js"));
const style = outputs.find((n) => n.endsWith(".css"));
if (!script || !style) {
  throw new Error(`build produced no script or stylesheet: ${outputs.join(", ")}`);
}
const icon = await readFile(join(here, "src", "favicon.svg"));
const iconName = `favicon-${createHash("sha256").update(icon).digest("hex").slice(0, 8)}.svg`;
await writeFile(join(assets, iconName), icon);
const template = await readFile(join(here, "src", "index.html"), "utf8");
const page = template
  .replace("%SCRIPT%", `/assets/${script}`)
  .replace("%STYLE%", `/assets/${style}`)
  .replace("%ICON%", `/assets/${iconName}`);
await writeFile(join(outdir, "index.html"), page);

// The API reference page (/docs) uses Swagger UI from the same lock file, served locally.
const swaggerSrc = join(here, "node_modules", "swagger-ui-dist");
const swaggerOut = join(outdir, "swagger");
await mkdir(swaggerOut, { recursive: true });
for (const name of ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"]) {
  await copyFile(join(swaggerSrc, name), join(swaggerOut, name));
}
console.log(`dashboard built into ${outdir}: ${outputs.join(", ")}, swagger/`);
