/**
 * The package version, read from package.json at run time: the same relative path works
 * from src/bin (tsx) and dist/bin (compiled), and the version has one source.
 */
import { readFileSync } from "node:fs";

/** The `version` field of the package.json this code ships in. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
  return typeof pkg.version === "string" ? pkg.version : "unknown";
}
