// Checks that PromQL queries name only known metrics.
//
//   node metric-names.mjs ALLOWLIST < queries.jsonl
//
// queries.jsonl: one {"source": "...", "expr": "...", "records": "name?"} per line; a line with
// "records" defines a recording rule name that later queries may use. ALLOWLIST: one metric
// name per line ('#' comments), optionally followed by `histogram` (allows _bucket, _sum and
// _count) or `external` (outside mlsidecar). Each query is parsed with Prometheus' own Lezer
// PromQL grammar, and every vector selector's metric name must be listed or recorded.
// Exit status: 0 when all names are known, 1 otherwise (one line per unknown name or parse error).
import { readFileSync } from "node:fs";
import { parser } from "@prometheus-io/lezer-promql";

function allowed(file) {
  const names = new Set();
  for (const raw of readFileSync(file, "utf8").split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const [name, kind] = line.split(/\s+/);
    names.add(name);
    if (kind === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(name + s);
  }
  return names;
}

function metricNames(expr) {
  const names = [];
  const errors = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from);
      if (node.name === "VectorSelector") {
        const id = node.node.getChild("Identifier");
        if (id) names.push(expr.slice(id.from, id.to));
      }
    },
  });
  return { names, errors };
}

const known = allowed(process.argv[2]);
const queries = readFileSync(0, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
for (const q of queries) if (q.records) known.add(q.records);
let problems = 0;
let checked = 0;
for (const q of queries) {
  const { names, errors } = metricNames(q.expr);
  checked++;
  if (errors.length) {
    console.error(`${q.source}: PromQL does not parse at offset ${errors[0]}: ${q.expr}`);
    problems++;
  }
  if (!names.length && !/vector\(|time\(\)/.test(q.expr)) {
    console.error(`${q.source}: no metric in query: ${q.expr}`);
    problems++;
  }
  for (const n of names) {
    if (!known.has(n)) {
      console.error(`${q.source}: unknown metric ${n}`);
      problems++;
    }
  }
}
console.log(`metric-names: ${checked} queries, ${problems} problems`);
process.exitCode = problems ? 1 : 0;
