// Validates Kubernetes objects against the Kubernetes OpenAPI schemas shipped by the
// kubernetes-models package. Reads a JSON array of objects on stdin; prints one line per object
// and exits 1 if any object of a known kind is invalid. Kinds the package does not know (custom
// resources) are reported as "unchecked".
"use strict";

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
let failed = false;
for (const object of input) {
  const apiVersion = object.apiVersion || "";
  const kind = object.kind || "";
  const module = `kubernetes-models/${apiVersion}`;
  let Model;
  try {
    Model = require(module)[kind];
  } catch (e) {
    Model = undefined;
  }
  const name = `${kind}/${(object.metadata || {}).name || ""}`;
  if (!Model) {
    console.log(`unchecked ${name}`);
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`valid ${name}`);
  } catch (e) {
    failed = true;
    console.log(`INVALID ${name}: ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
