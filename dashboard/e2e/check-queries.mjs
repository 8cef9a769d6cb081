// Validates every GraphQL document of src/api/queries.ts against the committed SDL
// (graphql/schema.graphql), so a schema change that breaks the dashboard fails here and not
// in a user's browser. Documents named *_LEGACY target the earlier `issues(status, limit,
// offset)` API and are expected to be invalid once the contract's API is in; the others must
// all be valid. Documents of a later feature (alerting, traces: FEATURES below) are checked when
// the schema has that feature's root field and skipped, saying so, when it does not (the pages
// then say the server lacks it). Prints one line per document, then
// "queries: N passed, N failed, N skipped".

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildSchema, parse, validate } from "graphql";

const here = dirname(fileURLToPath(import.meta.url));
const schema = buildSchema(readFileSync(join(here, "..", "..", "graphql", "schema.graphql"), "utf8"));

// queries.ts holds only template strings, so it is plain JavaScript too.
const scratch = mkdtempSync(join(tmpdir(), "queries-"));
const copy = join(scratch, "queries.mjs");
writeFileSync(copy, readFileSync(join(here, "..", "src", "api", "queries.ts"), "utf8"));
const documents = await import(pathToFileURL(copy).href);
rmSync(scratch, { recursive: true });

const contractIn = !!schema.getType("IssueConnection");

/** Root fields of later features: a document using one needs that feature's marker field. */
const FEATURES = [
  {
    name: "alerting (issue 7)",
    marker: "alertRules",
    fields: ["alertRules", "alertRule", "alertEvents", "alertDeliveries", "createAlertRule", "updateAlertRule", "deleteAlertRule", "testAlertRule"],
  },
  { name: "traces (issue 9)", marker: "eventTrace", fields: ["trace", "eventTrace", "issueTraceImpact", "serviceMap"] },
];
const rootFields = new Set(
  ["query", "mutation", "subscription"].flatMap((op) => Object.keys(schema.getRootType(op)?.getFields() ?? {})),
);
function missingFeature(source) {
  let document;
  try {
    document = parse(source);
  } catch {
    return null;
  }
  const used = document.definitions
    .filter((d) => d.kind === "OperationDefinition")
    .flatMap((d) => d.selectionSet.selections.map((s) => s.name?.value));
  return FEATURES.find((f) => used.some((field) => f.fields.includes(field)) && !rootFields.has(f.marker)) ?? null;
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const [name, source] of Object.entries(documents)) {
  const legacy = name.endsWith("_LEGACY");
  const missing = missingFeature(source);
  if (missing) {
    console.log(`skip  ${name} (needs ${missing.name}: this schema has no ${missing.marker})`);
    skipped++;
    continue;
  }
  let errors;
  try {
    const document = parse(source);
    errors = validate(schema, document).map((e) => e.message);
    for (const definition of document.definitions) {
      if (definition.kind === "OperationDefinition" && !schema.getRootType(definition.operation)) {
        errors.push(`the schema has no ${definition.operation} type`);
      }
    }
  } catch (error) {
    errors = [String(error)];
  }
  if (legacy && contractIn) {
    console.log(`ok    ${name} (earlier API; this schema has the contract's, not used)`);
    passed++;
  } else if (errors.length === 0) {
    console.log(`ok    ${name}`);
    passed++;
  } else {
    console.log(`FAIL  ${name}: ${errors.join("; ")}`);
    failed++;
  }
}
console.log(`queries: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
