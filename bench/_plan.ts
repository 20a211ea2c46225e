// What a run is, beside its cells: its title, where it writes, and how many extra rounds the
// figures near a target's threshold get. Pure functions only: tests/bench_harness_test.ts covers
// them.

/** The options that narrow a run to part of a suite. */
export const FILTERS = ["runtime", "api", "strategy", "payload", "transport"] as const;

/** The filters given on the command line, as typed (absent when not given). */
export type RunFilters = Partial<Record<(typeof FILTERS)[number], string>>;

/** Seconds a whole suite may take: the quick suite ≤ 90 s, the full suite ≤ 10 minutes. */
export const SUITE_BUDGET_S = { quick: 90, full: 600 } as const;

/** The most extra rounds a figure near its threshold gets. */
export const MAX_EXTRA_ROUNDS = 3;

/** Whether any filter was given: the run measures part of its suite. */
export function isFiltered(filters: RunFilters): boolean {
  return FILTERS.some((name) => filters[name] !== undefined);
}

/**
 * What the report is titled: "quick suite", or what a filtered run ran, for example
 * "quick suite, filtered: runtime bun · api native · payload 64".
 */
export function runTitle(suite: "quick" | "full", filters: RunFilters): string {
  const given = FILTERS.filter((name) => filters[name] !== undefined)
    .map((name) => `${name} ${filters[name]!.split(",").join(", ")}`);
  return given.length === 0 ? `${suite} suite` : `${suite} suite, filtered: ${given.join(" · ")}`;
}

/**
 * Where a run writes its .json, .md and .svg (the path without the extension), or why it may not.
 * A run writes `bench/results/latest` (ignored by git), `--out PREFIX` writes PREFIX, and only
 * `--save` on a whole suite replaces the committed reference results (`bench/results/<suite>`).
 */
export function outputBase(
  options: { suite: "quick" | "full"; filtered: boolean; save: boolean; out?: string },
): { base: string } | { error: string } {
  if (options.save && options.filtered) {
    return {
      error: `--save replaces the committed bench/results/${options.suite}.* with a whole suite; ` +
        "this run is filtered (--runtime, --api, --strategy, --payload or --transport): " +
        "drop the filters, or write it elsewhere with --out PREFIX",
    };
  }
  if (options.save && options.out !== undefined) {
    return {
      error: `--save writes bench/results/${options.suite}.*, --out writes elsewhere: give one`,
    };
  }
  if (options.out !== undefined) return { base: options.out };
  return { base: options.save ? `bench/results/${options.suite}` : "bench/results/latest" };
}

/** One runtime × API's share of the extra rounds, and what its main rounds cost. */
export interface ExtraRoundsGroup {
  /** Cells per extra round: those near a threshold, and the raw cells they are ratios of. */
  cells: number;
  /** Seconds one cell took in the main rounds. */
  secondsPerCell: number;
  /** Seconds to start the server and the client before the first cell. */
  startupSeconds: number;
}

/**
 * How many extra rounds (0 to `maxRounds`) the cells near a threshold get: as many as fit in
 * `secondsLeft`, each group paying its start-up once and each cell once per round.
 */
export function chooseExtraRounds(
  groups: readonly ExtraRoundsGroup[],
  secondsLeft: number,
  maxRounds: number = MAX_EXTRA_ROUNDS,
): number {
  const busy = groups.filter((g) => g.cells > 0);
  if (busy.length === 0) return 0;
  const cost = (rounds: number) =>
    busy.reduce((sum, g) => sum + g.startupSeconds + rounds * g.cells * g.secondsPerCell, 0);
  let rounds = 0;
  while (rounds < maxRounds && cost(rounds + 1) <= secondsLeft) rounds++;
  return rounds;
}
