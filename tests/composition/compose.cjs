// Compose subgraphs with Apollo's composition library, as a supergraph router would.
// Usage: node compose.cjs NAME=FILE.graphql [NAME=FILE.graphql ...]
// Prints {"errors": [...], "hints": [...], "supergraphSdl": "..."}; exits 1 on errors.
"use strict";
const fs = require("fs");
const { parse } = require("graphql");
const { composeServices } = require("@apollo/composition");

const services = process.argv.slice(2).map((arg) => {
  const [name, file] = arg.split("=");
  return { name, url: `http://${name}.invalid/graphql`, typeDefs: parse(fs.readFileSync(file, "utf8")) };
});
const result = composeServices(services);
const errors = (result.errors || []).map((e) => ({ code: e.extensions && e.extensions.code, message: e.message }));
const hints = (result.hints || []).map((h) => h.definition.code);
process.stdout.write(JSON.stringify({ errors, hints, supergraphSdl: result.supergraphSdl || null }) + "\n");
process.exit(errors.length ? 1 : 0);
