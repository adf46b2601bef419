/**
 * The operations both property tests of the derived tables (rollup.test.ts and
 * history.test.ts) apply to the Worker's D1 in random order, and the report rows an
 * ingest writes. Each test chooses its own ranges: the rollups are checked on short
 * recent periods, the history on periods that cross days and seal.
 */
import fc from "fast-check";
import { cellNames, encodeCells, type Cell } from "../../src/db/cells";
import { utcDay } from "../../src/ingest/period";
import { INSTALLATION_COLUMNS, type InstallationColumn, type ReportRows } from "../../src/db/rows";

export const HOUR = 3_600;
export const DAY = 86_400;
export const IDS = [
	"0b0a3f4e-7c1d-4e2f-9a3b-1c2d3e4f5a60",
	"3c1b2a4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
	"5d2e3f4a-6b7c-4d8e-9f0a-1b2c3d4e5f6a",
	"8e3f4a5b-7c8d-4e9f-a0b1-2c3d4e5f6a7b",
	"f1a2b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b",
];
const NAMES = cellNames();
const FACT_VALUES = [null, "x", "y"] as const;
const COLUMNS = Object.values(INSTALLATION_COLUMNS);

export type Op =
	| { kind: "ingest"; id: number; endAgo: number; hours: number; cells: [number, number][]; facts: number[] }
	| { kind: "cron"; stepReports: number; maxSteps: number }
	| { kind: "forget"; id: number }
	| { kind: "retention" }
	| { kind: "advance"; hours: number };

export type Ingest = Extract<Op, { kind: "ingest" }>;

export interface Ranges {
	/** Hours before now that an ingested period ends. */
	readonly endAgo: fc.Arbitrary<number>;
	/** An ingested period's length in hours. */
	readonly hours: fc.Arbitrary<number>;
	/** The most hours one "advance" moves the clock. */
	readonly maxAdvanceHours: number;
	/** How often time moves, against 8 for ingests (2 unless given). */
	readonly advanceWeight?: number;
	/** Installations drawn from (all of IDS unless given): fewer means more reports each. */
	readonly installations?: number;
}

export function operations(ranges: Ranges): fc.Arbitrary<Op> {
	return fc.oneof(
		{
			weight: 8,
			arbitrary: fc.record({
				kind: fc.constant("ingest" as const),
				id: fc.nat((ranges.installations ?? IDS.length) - 1),
				endAgo: ranges.endAgo,
				hours: ranges.hours,
				cells: fc.uniqueArray(fc.tuple(fc.nat(NAMES.length - 1), fc.integer({ min: 1, max: 5 })), { maxLength: 6, selector: (c) => c[0] }),
				facts: fc.array(fc.nat(FACT_VALUES.length - 1), { minLength: COLUMNS.length, maxLength: COLUMNS.length }),
			}),
		},
		{ weight: 3, arbitrary: fc.record({ kind: fc.constant("cron" as const), stepReports: fc.integer({ min: 1, max: 4 }), maxSteps: fc.integer({ min: 1, max: 3 }) }) },
		{ weight: 1, arbitrary: fc.record({ kind: fc.constant("forget" as const), id: fc.nat((ranges.installations ?? IDS.length) - 1) }) },
		{ weight: 1, arbitrary: fc.record({ kind: fc.constant("retention" as const) }) },
		{ weight: ranges.advanceWeight ?? 2, arbitrary: fc.record({ kind: fc.constant("advance" as const), hours: fc.integer({ min: 1, max: ranges.maxAdvanceHours }) }) },
	);
}

function cellOf(index: number, sessions: number): Cell {
	const n = NAMES[index];
	if (!n) throw new Error("cell index");
	const named = Object.fromEntries(Object.entries({ transport: n.transport, bin: n.bin, role: n.role, provider: n.provider }).filter(([, v]) => v !== null));
	return { metric: n.metric, ...named, sessions };
}

/** The rows of installation `id`'s report received at `now` (Unix seconds), as the Worker would write them. */
export function reportRows(o: Ingest, id: string, now: number): ReportRows {
	const end = Math.floor(now / HOUR) * HOUR - o.endAgo * HOUR;
	const facts = Object.fromEntries(COLUMNS.map((c, i) => [c, FACT_VALUES[o.facts[i] ?? 0] ?? null])) as Record<InstallationColumn, string | null>;
	return {
		installation: { telemetry_id: id, seen_day: utcDay(now * 1000), facts },
		report: { telemetry_id: id, period_start: end - o.hours * HOUR, period_end: end, received_day: utcDay(now * 1000), cells: encodeCells(o.cells.map(([c, s]) => cellOf(c, s))) },
	};
}
