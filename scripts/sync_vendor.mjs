#!/usr/bin/env node
// Copy the pinned front-end libraries from node_modules into frontend_vendor/ and write
// frontend_vendor/manifest.json (name, version, licence, sha256 of every file).
//
//   npm ci && npm run vendor:sync     rewrite frontend_vendor/ from node_modules
//   npm run vendor:check              fail if frontend_vendor/ differs from what a sync would write
//
// The copied files are committed, so neither CI nor the Docker build needs npm. The plan below is
// explicit on purpose: only the built files a page loads, plus every licence text, are copied
// (source maps are left out; browsers ask for them only while developer tools are open).
// Node 20, no dependencies.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const NODE_MODULES = join(ROOT, "node_modules");
const VENDOR = join(ROOT, "frontend_vendor");
const MANIFEST = "manifest.json";

// package -> files to copy, as [source inside the package, destination inside frontend_vendor/<package>/].
// `bundles` names npm packages compiled into a built file; their licences travel with it.
const PLAN = [
  {
    name: "leaflet",
    files: [
      ["dist/leaflet.js", "leaflet.js"],
      ["dist/leaflet.css", "leaflet.css"],
      // leaflet.css refers to these by the relative path images/<name>.
      ["dist/images/layers.png", "images/layers.png"],
      ["dist/images/layers-2x.png", "images/layers-2x.png"],
      ["dist/images/marker-icon.png", "images/marker-icon.png"],
      ["dist/images/marker-icon-2x.png", "images/marker-icon-2x.png"],
      ["dist/images/marker-shadow.png", "images/marker-shadow.png"],
      ["LICENSE", "LICENSE"],
    ],
  },
  {
    name: "leaflet.markercluster",
    files: [
      ["dist/leaflet.markercluster.js", "leaflet.markercluster.js"],
      ["dist/MarkerCluster.css", "MarkerCluster.css"],
      ["dist/MarkerCluster.Default.css", "MarkerCluster.Default.css"],
      ["MIT-LICENCE.txt", "LICENSE"],
    ],
  },
  {
    // The map's vector tiles (app/static/js/map.js): tile grid, fetch and MVT decoding. The bundled
    // build carries its decoders (pbf, vector-tile) and a fetch polyfill; the package has no LICENSE
    // file, its README holds the licence (Beer-ware) and lists what the bundle contains.
    name: "leaflet.vectorgrid",
    files: [
      ["dist/Leaflet.VectorGrid.bundled.min.js", "Leaflet.VectorGrid.bundled.min.js"],
      ["README.md", "README.md"],
    ],
    bundles: [
      { name: "pbf", licenceFile: "LICENSE", destination: "LICENSE.pbf" },
      { name: "ieee754", licenceFile: "LICENSE", destination: "LICENSE.ieee754" },
      { name: "vector-tile", licenceFile: "LICENSE.txt", destination: "LICENSE.vector-tile" },
      { name: "point-geometry", licenceFile: "README.md", destination: "README.point-geometry.md" },
      { name: "topojson-client", licenceFile: "LICENSE.md", destination: "LICENSE.topojson-client" },
      { name: "whatwg-fetch", licenceFile: "LICENSE", destination: "LICENSE.whatwg-fetch" },
    ],
  },
  {
    // Only the browser tests load it (tests/e2e/test_accessibility.py); no page does.
    name: "axe-core",
    files: [
      ["axe.min.js", "axe.min.js"],
      ["LICENSE", "LICENSE"],
      // Licences of the code axe.min.js bundles.
      ["LICENSE-3RD-PARTY.txt", "LICENSE-3RD-PARTY.txt"],
    ],
  },
  {
    name: "chart.js",
    files: [
      ["dist/chart.umd.min.js", "chart.umd.min.js"],
      ["LICENSE.md", "LICENSE"],
    ],
    bundles: [{ name: "@kurkle/color", licenceFile: "LICENSE.md", destination: "LICENSE.kurkle-color" }],
  },
];

function sha256(buffer) {
  return createHash("sha256").update(buffer).digest("hex");
}

function readPackageJson(dir) {
  return JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
}

function pinnedVersions() {
  const pkg = readPackageJson(ROOT);
  return { ...(pkg.dependencies || {}), ...(pkg.devDependencies || {}) };
}

/** Build the files and manifest a sync would write, without touching the disk. */
function buildPlan() {
  const pins = pinnedVersions();
  const outputs = new Map(); // path relative to frontend_vendor/ -> Buffer
  const packages = [];
  for (const entry of PLAN) {
    const pkgDir = join(NODE_MODULES, entry.name);
    if (!existsSync(pkgDir)) {
      throw new Error(`${entry.name} is not installed: run \`npm ci\` first`);
    }
    const meta = readPackageJson(pkgDir);
    if (pins[entry.name] !== meta.version) {
      throw new Error(
        `${entry.name}: package.json pins ${pins[entry.name]}, node_modules has ${meta.version}; run \`npm ci\``,
      );
    }
    const files = [];
    const addFile = (source, destination) => {
      // Verbatim copies, so each sha256 can be compared with the file in the npm tarball.
      const content = readFileSync(source);
      const path = `${entry.name}/${destination}`;
      outputs.set(path, content);
      files.push({ path, sha256: sha256(content), bytes: content.length });
    };
    for (const [source, destination] of entry.files) {
      addFile(join(pkgDir, source), destination);
    }
    const bundled = [];
    for (const bundle of entry.bundles || []) {
      const bundleDir = join(NODE_MODULES, ...bundle.name.split("/"));
      const bundleMeta = readPackageJson(bundleDir);
      addFile(join(bundleDir, bundle.licenceFile), bundle.destination);
      bundled.push({ name: bundle.name, version: bundleMeta.version, licence: bundleMeta.license });
    }
    files.sort((a, b) => a.path.localeCompare(b.path));
    packages.push({
      name: entry.name,
      version: meta.version,
      licence: meta.license,
      homepage: meta.homepage || null,
      bundles: bundled,
      files,
    });
  }
  // No timestamp: the manifest depends only on the pinned versions, so a re-sync is a no-op diff.
  const manifest = {
    generated_by: "scripts/sync_vendor.mjs (npm run vendor:sync)",
    packages,
  };
  outputs.set(MANIFEST, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, "utf8"));
  return outputs;
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) found.push(...listFiles(full));
    else found.push(relative(VENDOR, full).split(sep).join("/"));
  }
  return found;
}

function check(outputs) {
  const problems = [];
  for (const [path, content] of outputs) {
    const target = join(VENDOR, path);
    if (!existsSync(target)) problems.push(`missing: ${path}`);
    else if (sha256(readFileSync(target)) !== sha256(content)) problems.push(`differs: ${path}`);
  }
  for (const path of listFiles(VENDOR)) {
    if (!outputs.has(path)) problems.push(`not produced by the sync: ${path}`);
  }
  return problems;
}

function write(outputs) {
  // Clean the whole managed tree so files dropped from the plan disappear too.
  rmSync(VENDOR, { recursive: true, force: true });
  for (const [path, content] of outputs) {
    const target = join(VENDOR, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
}

function main() {
  const outputs = buildPlan();
  if (process.argv.includes("--check")) {
    const problems = check(outputs);
    if (problems.length) {
      console.error(`frontend_vendor/ is out of date:\n  ${problems.join("\n  ")}`);
      process.exit(1);
    }
    console.log(`frontend_vendor/ matches node_modules (${outputs.size} files)`);
    return;
  }
  write(outputs);
  console.log(`wrote ${outputs.size} files to frontend_vendor/`);
}

main();
