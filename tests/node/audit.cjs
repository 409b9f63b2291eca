// The GraphQL-over-HTTP audit (graphql-http's auditServer) against a running server.
// Usage: node audit.cjs URL. Prints each audit that is not ok, the summary line, and last a
// JSON line with the counts for the Python test to read.
const { auditServer } = require("graphql-http");

async function main() {
  const url = process.argv[2];
  const results = await auditServer({ url });
  const counts = { ok: 0, warn: 0, error: 0 };
  const problems = [];
  for (const result of results) {
    counts[result.status] += 1;
    if (result.status !== "ok") {
      problems.push(`${result.status} ${result.id} ${result.name}: ${result.reason}`);
    }
  }
  for (const line of problems) console.log(line);
  const summary =
    `graphql-http ${require("graphql-http/package.json").version} auditServer: ` +
    `${results.length} audits, ${counts.ok} ok, ${counts.warn} warnings, ${counts.error} errors`;
  console.log(summary);
  console.log(JSON.stringify({ total: results.length, ...counts, summary, problems }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
