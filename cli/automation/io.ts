/**
 * The terminal as the deploy and drift commands see it: result on stdout, progress on stderr, and
 * whether a person is there to confirm. Injected so that tests can play both roles.
 */
import * as readline from "node:readline/promises";

export interface CommandIo {
  /** The result (one JSON document with --json). */
  stdout: (text: string) => void;
  /** Progress, engine output and prompts. */
  stderr: (text: string) => void;
  /** Whether a person can answer a prompt (stdin and stderr are terminals). */
  isInteractive: () => boolean;
  /** Asks `question`; true only when the answer is exactly `expected`. */
  confirm: (question: string, expected: string) => Promise<boolean>;
  /** Calls `handler` on Ctrl-C or SIGTERM until the returned function removes it. */
  onInterrupt?: (handler: (signal: string) => void) => () => void;
}

export function processIo(): CommandIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isInteractive: () => Boolean(process.stdin.isTTY && process.stderr.isTTY),
    confirm: async (question, expected) => {
      const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
      try {
        return (await rl.question(question)).trim() === expected;
      } finally {
        rl.close();
      }
    },
    onInterrupt: (handler) => {
      const listeners = (["SIGINT", "SIGTERM"] as const).map((signal) => {
        const listener = () => handler(signal);
        process.on(signal, listener);
        return [signal, listener] as const;
      });
      return () => {
        for (const [signal, listener] of listeners) process.off(signal, listener);
      };
    },
  };
}
