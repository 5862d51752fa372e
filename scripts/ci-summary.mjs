// Prints the plain closing line CI reads, "N passed, N failed", from vitest's JSON report.
// A run that failed before vitest wrote its report (type check, ESLint, import boundaries,
// buf lint, generation or breaking check) is reported as one failure.
import { existsSync, readFileSync } from "node:fs";

const [file = ".vitest-results.json", rcArg = "0"] = process.argv.slice(2);
const rc = Number(rcArg);
let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(file)) {
  const report = JSON.parse(readFileSync(file, "utf8"));
  passed = report.numPassedTests ?? 0;
  failed = report.numFailedTests ?? 0;
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // A suite that failed to load counts its file as a failure even with no test inside.
  failed += (report.testResults ?? []).filter((r) => r.status === "failed" && (r.assertionResults ?? []).length === 0).length;
}
if (rc !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
