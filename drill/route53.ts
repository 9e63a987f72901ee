/**
 * Route53Emulator: what Route 53 does with a pair of fail-over records, at the drill's time scale.
 * Every `intervalMs` it asks each region's health-check endpoint; a check turns unhealthy after
 * `failureThreshold` consecutive failed answers and healthy again after as many good ones (Route 53
 * uses one threshold both ways). The answer is the PRIMARY record while its check is healthy, else
 * the SECONDARY while that one is, else the PRIMARY (Route 53 fails open when every check fails).
 * Used by the local drill only; deployed fail-over is Route 53 itself.
 */

export interface Route53Options {
  /** [primary, secondary] region names. */
  regions: readonly [string, string];
  intervalMs: number;
  failureThreshold: number;
  /** One health-check request to a region's endpoint: true on HTTP 200. Errors count as failures. */
  check(region: string): Promise<boolean>;
  /** Called when the answered region changes (after the DNS answer has been switched by the caller). */
  onAnswerChange(active: string, previous: string): void;
  /** Called after every round with each region's check status. */
  onRound?(status: Record<string, boolean>): void;
}

interface CheckState {
  healthy: boolean;
  failures: number;
  successes: number;
}

export class Route53Emulator {
  private readonly states = new Map<string, CheckState>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private answer: string;

  constructor(private readonly options: Route53Options) {
    if (!(options.intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${options.intervalMs}`);
    if (
      !Number.isInteger(options.failureThreshold) ||
      options.failureThreshold < 1 ||
      options.failureThreshold > 10
    )
      throw new RangeError(
        `failureThreshold must be an integer 1-10 (as in Route 53), got ${options.failureThreshold}`,
      );
    for (const region of options.regions)
      this.states.set(region, { healthy: true, failures: 0, successes: 0 });
    this.answer = options.regions[0];
  }

  /** The region the fail-over record answers with now. */
  get active(): string {
    return this.answer;
  }

  healthy(region: string): boolean {
    return this.states.get(region)?.healthy ?? false;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return; // a slow round is not overlapped; Route 53's checkers are, but they do not add verdicts faster
      this.running = this.round().finally(() => {
        this.running = undefined;
      });
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One round of checks; public so that tests can step it. */
  async round(): Promise<void> {
    const results = await Promise.all(
      this.options.regions.map((region) => this.options.check(region).catch(() => false)),
    );
    const status: Record<string, boolean> = {};
    this.options.regions.forEach((region, i) => {
      const s = this.states.get(region)!;
      const ok = results[i]!;
      if (s.healthy) {
        s.failures = ok ? 0 : s.failures + 1;
        if (s.failures >= this.options.failureThreshold)
          Object.assign(s, { healthy: false, failures: 0, successes: 0 });
      } else {
        s.successes = ok ? s.successes + 1 : 0;
        if (s.successes >= this.options.failureThreshold)
          Object.assign(s, { healthy: true, failures: 0, successes: 0 });
      }
      status[region] = s.healthy;
    });
    this.options.onRound?.(status);
    const [primary, secondary] = this.options.regions;
    const next = status[primary] ? primary : status[secondary] ? secondary : primary;
    if (next !== this.answer) {
      const previous = this.answer;
      this.answer = next;
      this.options.onAnswerChange(next, previous);
    }
  }
}
