/**
 * A function's code archive as AWS would receive it: the `code` AssetArchive of a planned
 * aws:lambda Function turned into its files, a zip, and a folder laid out like /var/task.
 */
import * as fs from "node:fs";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { zipSync, type Zippable } from "fflate";

export { LAMBDA_UNZIPPED_LIMIT_BYTES, LAMBDA_ZIPPED_LIMIT_BYTES } from "../../policy/types";

/** Archive path → file content. */
export type ArchiveFiles = Map<string, Buffer>;

interface AssetLike {
  text?: string | Promise<string>;
  path?: string | Promise<string>;
}
interface ArchiveLike {
  assets?: Record<string, unknown> | Promise<Record<string, unknown>>;
  path?: string | Promise<string>;
}

/** Every file below `dir`, symlinks followed (an archive holds contents, never links). */
function readTree(dir: string, prefix: string, into: ArchiveFiles): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const stat = fs.statSync(full);
    const name = `${prefix}${entry.name}`;
    if (stat.isDirectory()) readTree(full, `${name}/`, into);
    else if (stat.isFile()) into.set(name, fs.readFileSync(full));
  }
}

/** The files of an AssetArchive (StringAsset, FileAsset, FileArchive and nested AssetArchive). */
export async function archiveFiles(code: unknown, prefix = ""): Promise<ArchiveFiles> {
  const files: ArchiveFiles = new Map();
  const archive = code as ArchiveLike | undefined;
  if (!archive || typeof archive !== "object" || !pulumi.asset.Archive.isInstance(archive)) {
    throw new Error("the function's code input is not a Pulumi archive (is it a callback function?)");
  }
  if (archive.assets !== undefined) {
    const assets = await archive.assets;
    for (const [name, value] of Object.entries(assets)) {
      const key = `${prefix}${name}`;
      const asset = value as AssetLike;
      if (pulumi.asset.Archive.isInstance(value)) {
        for (const [k, v] of await archiveFiles(value, `${key}/`)) files.set(k, v);
      } else if (asset.text !== undefined) {
        files.set(key, Buffer.from(await asset.text, "utf8"));
      } else if (asset.path !== undefined) {
        files.set(key, fs.readFileSync(await asset.path));
      } else {
        throw new Error(`archive entry ${key} is neither text nor a file: not supported by iot-dr package`);
      }
    }
    return files;
  }
  if (archive.path !== undefined) {
    const source = await archive.path;
    if (!fs.statSync(source).isDirectory()) {
      throw new Error(`archive ${source} is a file archive: not supported by iot-dr package`);
    }
    readTree(source, prefix, files);
    return files;
  }
  throw new Error("the function's code archive has neither assets nor a path");
}

/** Deflated zip of the files, regular files readable by everyone (Lambda runs as another user). */
export function zipFiles(files: ArchiveFiles): Buffer {
  const tree: Zippable = {};
  // A fixed time keeps the zip of unchanged code byte-identical between builds.
  const mtime = new Date("2020-01-01T00:00:00Z");
  for (const [name, content] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    tree[name] = [new Uint8Array(content), { level: 9, mtime, attrs: 0o100644 << 16, os: 3 }];
  }
  return Buffer.from(zipSync(tree));
}

/** Writes the files into `dir` as plain copies (what Lambda unpacks into /var/task). */
export function writeFiles(files: ArchiveFiles, dir: string): void {
  for (const [name, content] of files) {
    const target = path.join(dir, name);
    if (!target.startsWith(dir + path.sep)) throw new Error(`archive entry ${name} escapes the archive`);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
  }
}

export const unzippedBytes = (files: ArchiveFiles) =>
  [...files.values()].reduce((sum, f) => sum + f.length, 0);
