/**
 * The history's buckets: UTC days and weeks (Monday to Sunday), how long they are kept,
 * which facts they count, and the shape of a stored row. Pure; shared by the SQL
 * (history.ts) and the shaping (stats/series.ts).
 */

export const DAY_SECONDS = 86_400;
export const WEEK_SECONDS = 7 * DAY_SECONDS;
/** How long the history is kept: two years of days. */
export const HISTORY_DAYS = 730;

export type Grain = "day" | "week";
export const GRAINS: readonly Grain[] = ["day", "week"];

/** The environment facts the history keeps (a series of each): version adoption, OS, MCP host. */
export const SERIES_FACTS: readonly string[] = ["service.version", "os.type", "voicemode.mcp.host"];

/** Bucket start of a Unix-seconds instant (the same rule as the SQL). */
export function bucketStart(grain: Grain, t: number): number {
	const day = Math.floor(t / DAY_SECONDS);
	return grain === "day" ? day * DAY_SECONDS : (day - ((day + 3) % 7)) * DAY_SECONDS;
}

export function bucketLength(grain: Grain): number {
	return grain === "day" ? DAY_SECONDS : WEEK_SECONDS;
}

export interface SeriesRow {
	readonly start: number;
	readonly kind: "reports" | "sessions" | "bin" | "provider" | "transport" | "fact";
	readonly name: string;
	readonly a: string;
	readonly b: string;
	readonly total: number;
	readonly installations: number;
}

