// Builds src -> dist with the TypeScript compiler that Node resolution finds from here: the
// repository root's node_modules when built in the repository (this package has no
// node_modules of its own there), or a local one when the package is built on its own.
// dist is emptied first so that a file deleted from src does not linger in the tarball.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
rmSync(join(pkgDir, "dist"), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, "-p", pkgDir], { stdio: "inherit" });
process.exit(r.status ?? 1);
