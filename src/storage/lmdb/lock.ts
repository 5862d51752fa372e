/**
 * One server per data directory. On Linux the lock is an abstract Unix socket named after
 * the directory's real path: the kernel frees it the instant the owning process dies (even
 * under SIGKILL), so there is no stale lock file to clean and no PID-reuse race. Elsewhere a
 * PID file is used, taken over when its process is gone.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { type Server, createServer } from "node:net";
import { join } from "node:path";

/** A held directory lock. */
export interface DirectoryLock {
  release(): Promise<void>;
}

/** Raised when another live process holds the directory. */
export class DirectoryLockedError extends Error {
  override readonly name = "DirectoryLockedError";
}

function lockName(dir: string): string {
  const real = realpathSync(dir);
  return `\0actionqueue:${createHash("sha256").update(real).digest("hex").slice(0, 40)}`;
}

async function abstractSocketLock(dir: string): Promise<DirectoryLock> {
  const server: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE") {
        reject(new DirectoryLockedError(`data directory ${dir} is in use by another ActionQueue process`));
      } else reject(e);
    });
    server.listen({ path: lockName(dir) }, () => resolve());
  });
  server.unref();
  return {
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function pidFileLock(dir: string): DirectoryLock {
  const file = join(dir, "LOCK");
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(file, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return { release: async () => rmSync(file, { force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(file, "utf8"));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new DirectoryLockedError(`data directory ${dir} is in use by another ActionQueue process (pid ${pid})`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new DirectoryLockedError(`could not lock data directory ${dir}`);
}

/** Locks `dir` for this process or throws DirectoryLockedError. */
export async function lockDirectory(dir: string): Promise<DirectoryLock> {
  return process.platform === "linux" ? abstractSocketLock(dir) : pidFileLock(dir);
}
