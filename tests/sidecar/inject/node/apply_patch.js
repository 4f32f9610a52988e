// Applies an RFC 6902 JSON Patch with the fast-json-patch package (an implementation independent
// of mlsidecar's). Reads {"document": ..., "patch": [...]} on stdin, writes the patched document.
"use strict";

const jsonpatch = require("fast-json-patch");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const errors = jsonpatch.validate(input.patch, input.document);
if (errors) {
  console.error(`invalid patch: ${errors.message}`);
  process.exit(1);
}
const result = jsonpatch.applyPatch(input.document, input.patch, true, false).newDocument;
process.stdout.write(JSON.stringify(result));
