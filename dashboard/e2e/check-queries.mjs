// Validates every GraphQL document of src/api/queries.ts against the committed SDL
// (graphql/schema.graphql), so a schema change that breaks the dashboard fails here and not
// in a user's browser. Documents named *_LEGACY target the earlier `issues(status, limit,
// offset)` API and are expected to be invalid once the contract's API is in; the others must
// all be valid. Prints one line per document, then "queries: N passed, N failed".

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
let passed = 0;
let failed = 0;
for (const [name, source] of Object.entries(documents)) {
  const legacy = name.endsWith("_LEGACY");
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
console.log(`queries: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
