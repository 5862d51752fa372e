/**
 * Vitest global setup: builds the dashboard into dist/ui once before any test, so every
 * server a test starts serves the dashboard as it is in ui/ now (not as npm ci left it).
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export default function setup(): void {
  const root = join(import.meta.dirname, "..", "..");
  execFileSync(process.execPath, [join(root, "scripts", "build-ui.mjs")], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
}
