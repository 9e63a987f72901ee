/**
 * What in-process CLI runs print: stdout and stderr are captured (and kept off the test output)
 * before each test and restored after it.
 */
import { afterEach, beforeEach, vi } from "vitest";

/** `out` and `err` hold what was printed since the test began, or since a test set them (e.g. to ""). */
export function captureStdio(): { out: string; err: string } {
  let out = "";
  let err = "";
  beforeEach(() => {
    out = "";
    err = "";
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      err += String(chunk);
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  return {
    get out() {
      return out;
    },
    set out(value) {
      out = value;
    },
    get err() {
      return err;
    },
    set err(value) {
      err = value;
    },
  };
}
