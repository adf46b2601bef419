/**
 * When an installation counts: only once it is *established* do its reports reach any
 * published number (the rollups, the history, hence /v1/stats, the series and the
 * dashboard). Until then they wait, stored, in the rollup queue; the first rollup run
 * after the installation qualifies takes them all in (late reports are counted at their
 * own hours), and they expire uncounted if it never does.
 *
 * Established = the Worker received its reports on at least `days` distinct UTC days,
 * the first and the last at least `spanDays` apart (counted from the Worker's own
 * clock, `installations.days_seen`, `first_seen_day`, `last_seen_day`: a client cannot
 * backdate it). Why: IDs are self-chosen, so without this, four IDs minted in a minute
 * and carrying a victim's rare values lift each of the victim's withheld cells to the
 * threshold of 5, and published minus four is the victim's profile. Now each such ID
 * must report on 3 days over at least a week, from the start: an attack needs a week
 * of preparation per wave of IDs, and anything a script sends today publishes nothing
 * (docs/privacy.md says exactly what is left). A genuine user who reports on 3 days is
 * counted from then on, with every report since the first.
 *
 * STATS_ESTABLISHED (wrangler.jsonc) sets the rule as "days/spanDays", 3/7 by default;
 * local `wrangler dev` (scripts/dev.sh) and the tests that are about something else use
 * 1/0 — every installation counts at once — as ROLLUP_ON_READ does for freshness.
 */

export interface Established {
	/** Distinct UTC days with a received report. */
	readonly days: number;
	/** Days from the first to the last of them. */
	readonly spanDays: number;
}

export const DEFAULT_ESTABLISHED: Established = { days: 3, spanDays: 7 };

/** STATS_ESTABLISHED ("3/7") as a rule; the default when unset or malformed (never weaker by mistake). */
export function establishedFrom(value: string | undefined): Established {
	const match = /^\s*(\d{1,3})\s*\/\s*(\d{1,3})\s*$/.exec(value ?? "");
	if (!match) return DEFAULT_ESTABLISHED;
	const days = Number(match[1]);
	const spanDays = Number(match[2]);
	return days >= 1 ? { days, spanDays } : DEFAULT_ESTABLISHED;
}
