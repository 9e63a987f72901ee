/**
 * Output paths (`--report DIR`, `--checkpoint FILE`, ...) are checked before a command starts any
 * work, so a typo never costs a game day's figures or a half-done backfill.
 *
 * Decision: the tool creates at most the last component of an output path (the report folder
 * itself), never missing parents, for every user including root: as root a mistyped absolute path
 * (`/vra/reports/x`) would otherwise be created silently where nobody looks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UsageError } from "./errors.js";

function stat(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    // ENOTDIR: a component on the way is a file.
    if (code === "ENOTDIR") return undefined;
    throw err;
  }
}

/** The first component of `p` (from the root) that exists and is not a folder, if any. */
function fileOnTheWay(p: string): string | undefined {
  const parts = path.resolve(p).split(path.sep).filter(Boolean);
  let at = path.parse(path.resolve(p)).root;
  for (const part of parts.slice(0, -1)) {
    at = path.join(at, part);
    const s = stat(at);
    if (!s) return undefined;
    if (!s.isDirectory()) return at;
  }
  return undefined;
}

function writableFolder(flag: string, value: string, dir: string): void {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new UsageError(`${flag} ${value}: cannot write in ${dir} (permission denied)`);
  }
}

/** A folder the command will write into: it exists, or only it is missing (its parent exists). */
export function checkOutputFolder(flag: string, value: string): string {
  if (value.trim() === "") throw new UsageError(`${flag} needs a path`);
  const dir = path.resolve(value);
  const blocker = fileOnTheWay(dir);
  if (blocker) throw new UsageError(`${flag} ${value}: ${blocker} is a file, not a folder`);
  const s = stat(dir);
  if (s && !s.isDirectory()) throw new UsageError(`${flag} ${value}: ${dir} is a file, not a folder`);
  if (s) {
    writableFolder(flag, value, dir);
    return dir;
  }
  const parent = path.dirname(dir);
  if (!stat(parent))
    throw new UsageError(
      `${flag} ${value}: ${parent} does not exist; create it first (iot-dr creates only the last folder of an output path)`,
    );
  writableFolder(flag, value, parent);
  return dir;
}

/** A file the command will write (and maybe read first): its folder exists and is writable. */
export function checkOutputFile(flag: string, value: string): string {
  if (value.trim() === "") throw new UsageError(`${flag} needs a path`);
  const file = path.resolve(value);
  const blocker = fileOnTheWay(file);
  if (blocker) throw new UsageError(`${flag} ${value}: ${blocker} is a file, not a folder`);
  const dir = path.dirname(file);
  if (!stat(dir)) throw new UsageError(`${flag} ${value}: folder ${dir} does not exist`);
  const s = stat(file);
  if (s && !s.isFile()) throw new UsageError(`${flag} ${value}: ${file} exists and is not a file`);
  writableFolder(flag, value, dir);
  return file;
}
