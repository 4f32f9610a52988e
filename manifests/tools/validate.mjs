// Validates rendered Kubernetes objects against the API schemas, without a cluster.
//
//   node validate.mjs FILE.yaml...     (multi-document YAML, e.g. `kubectl kustomize` output)
//
// Two checks per object, both from the kubernetes-models packages (core API, KEDA,
// prometheus-operator and Argo Rollouts CRDs):
//  1. JSON-schema validation (types, required fields, enums, formats) with the model's
//     validate(), as the API server's schema would.
//  2. Unknown fields: JSON schema here allows extra properties, so a misspelt field
//     (`readinesProbe`) would pass silently and be dropped by the API server. Every object is
//     also written as a typed TypeScript literal and compiled with tsc, whose excess-property
//     check rejects any field the API type does not declare, at any depth.
// An object whose apiVersion/kind no package models is an error, not a skip.
// Exit status: 0 all valid, 1 invalid objects (one line per problem), 2 usage error.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));

// API group -> npm package that models it.
const PACKAGES = {
  "keda.sh": "@kubernetes-models/keda",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "argoproj.io": "@kubernetes-models/argo-rollouts",
};

function modulePath(apiVersion) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  return `${PACKAGES[group] ?? "kubernetes-models"}/${apiVersion}`;
}

function objectsOf(file) {
  const out = [];
  parseAllDocuments(readFileSync(file, "utf8")).forEach((doc, i) => {
    if (doc.errors.length) throw new Error(`${file}: document ${i}: ${doc.errors[0].message}`);
    const obj = doc.toJS();
    if (obj !== null) out.push({ file, obj });
  });
  return out;
}

function describe({ file, obj }) {
  return `${file}: ${obj.kind ?? "?"}/${obj.metadata?.name ?? "?"}`;
}

async function schemaCheck(item) {
  const { obj } = item;
  if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
    return [`${describe(item)}: no apiVersion/kind`];
  }
  let mod;
  try {
    mod = await import(modulePath(obj.apiVersion));
  } catch {
    return [`${describe(item)}: no schema for apiVersion ${obj.apiVersion}`];
  }
  const Model = mod[obj.kind];
  if (typeof Model !== "function") return [`${describe(item)}: no schema for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    return [`${describe(item)}: ${e.message}`];
  }
}

function unknownFieldCheck(items) {
  // Inside tools/ so that tsc resolves the packages from tools/node_modules.
  const dir = mkdtempSync(join(here, ".validate-"));
  try {
    const lines = [];
    items.forEach(({ obj }, i) => {
      lines.push(`import type { I${obj.kind} as T${i} } from "${modulePath(obj.apiVersion)}";`);
    });
    items.forEach(({ obj }, i) => {
      lines.push(`// ${i}`);
      lines.push(`export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)};`);
    });
    writeFileSync(join(dir, "objects.ts"), lines.join("\n") + "\n");
    const tsc = join(here, "node_modules", "typescript", "bin", "tsc");
    const args = [tsc, "--noEmit", "--strict", "--skipLibCheck", "--target", "es2022", "--module", "nodenext",
                  "--moduleResolution", "nodenext", "--typeRoots", "[]", "--pretty", "false", join(dir, "objects.ts")];
    try {
      execFileSync(process.execPath, args, { cwd: here, encoding: "utf8" });
      return [];
    } catch (e) {
      // Map "objects.ts(LINE,COL): error ..." back to the object it is in.
      const text = readFileSync(join(dir, "objects.ts"), "utf8").split("\n");
      const problems = [];
      for (const line of `${e.stdout}${e.stderr}`.split("\n")) {
        const m = line.match(/objects\.ts\((\d+),\d+\): (error .*)$/);
        if (!m) continue;
        let n = Number(m[1]) - 1;
        while (n >= 0 && !text[n].startsWith("// ")) n--;
        const item = items[Number(text[n]?.slice(3))];
        problems.push(`${item ? describe(item) : "?"}: ${m[2]}`);
      }
      return problems.length ? problems : [`tsc failed: ${e.stdout}${e.stderr}`];
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(files) {
  if (!files.length) {
    console.error("usage: node validate.mjs FILE.yaml...");
    return 2;
  }
  let items;
  try {
    items = files.flatMap(objectsOf);
  } catch (e) {
    console.error(`invalid: ${e.message}`);
    return 1;
  }
  const problems = [];
  for (const item of items) problems.push(...(await schemaCheck(item)));
  if (!problems.length) problems.push(...unknownFieldCheck(items));
  for (const p of problems) console.error(`invalid: ${p}`);
  console.log(`validate: ${items.length} objects, ${problems.length} problems`);
  return problems.length ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
