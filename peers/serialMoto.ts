/**
 * moto_server answering one request at a time. moto's server is threaded and its DynamoDB applies a
 * conditional update without a lock, so two concurrent updates of one item can both pass their
 * condition; AWS applies each conditional write atomically. Where a test or bench relies on that
 * atomicity (the shared pacing schedule, functions/replication/sharedPacing.ts), it runs this: the
 * same moto app under werkzeug's run_simple with threaded=False (moto/server.py main, unchanged
 * otherwise).
 */
export const SERIAL_MOTO_COMMAND = "python3";

export const serialMotoArgs = (host: string, port: number): string[] => [
  "-c",
  [
    "import moto.server as s",
    "run = s.run_simple",
    "s.run_simple = lambda *a, **k: run(*a, **{**k, 'threaded': False})",
    `s.main(['-H', '${host}', '-p', '${port}'])`,
  ].join("\n"),
];
