/**
 * The two reads behind GET /v1/stats and the dashboard, each one D1 read through db/
 * and then pure computation: the window's aggregates from the hourly rollups
 * (window.ts), and its day/week series from the history (series.ts). The only file of
 * stats/ that touches D1, so the computing stays pure (and Node can time it:
 * test/node/series.bench.test.ts).
 */
import { readHistory } from "../db/history";
import { readRollups } from "../db/rollups";
import type { Grain } from "../db/buckets";
import { bucketStarts, computeSeries, type Series } from "./series";
import { aggregatesFrom, computeStats, type Stats } from "./window";

/** The stats for the `days` days before `nowMs`, as of the last rollup run. */
export async function readStats(db: D1Database, nowMs: number, days: number, minInstallations: number): Promise<Stats> {
	const since = Math.floor(nowMs / 1000) - days * 86_400;
	const { rows, asOf } = await readRollups(db, since);
	return computeStats(aggregatesFrom(rows), days, minInstallations, asOf);
}

/** The series of the `days` days up to `nowMs`, as of the last rollup run. */
export async function readSeries(db: D1Database, nowMs: number, grain: Grain, days: number, minInstallations: number): Promise<Series> {
	const starts = bucketStarts(grain, nowMs, days);
	const { rows, asOf } = await readHistory(db, grain, starts[0] ?? 0, starts[starts.length - 1] ?? 0);
	return computeSeries(rows, grain, days, nowMs, minInstallations, asOf);
}
