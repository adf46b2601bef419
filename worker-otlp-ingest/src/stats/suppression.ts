/**
 * Small-cell and complementary suppression for one table of published numbers (the
 * window stats, or one bucket of a time series). Pure.
 *
 * Primary suppression: a cell backed by fewer than `minInstallations` distinct
 * installations is withheld. That alone is not enough when the published numbers
 * obey known relations: a published total minus its published parts is the sum of
 * the withheld parts, and when that sum has only one withheld member, the member
 * is computed exactly (a 1-session bin next to a published session total, or the one
 * Windows installation next to the published installation count).
 *
 * The attacker this guards against knows every relation below, every published
 * number, and — the worst case — which withheld cells are really empty (a guess like
 * "nobody runs VoiceMode on AIX" is often right). So a withheld cell with a value is
 * protected only if every relation it is in has at least one *other* non-empty
 * unknown member: then the published numbers give only the sum of two or more
 * non-empty unknowns, never one of them. Totals that are not published at all (the
 * window stats publish no session total) count as unknowns until the published
 * numbers determine them.
 *
 * When a withheld cell would be determined, the smallest published part of that
 * relation is withheld too (a complementary suppression), and the check starts over
 * until nothing is determined. In the star-shaped relations used here (one total,
 * parts that each belong to one relation) this check is exact: no linear combination
 * of the relations isolates a protected cell (test/stats/suppression.test.ts verifies it
 * with Gaussian elimination on random tables).
 */

/** One number that might be published. */
export interface Candidate {
	/** The published value (sessions, reports or installations). */
	readonly value: number;
	/** Distinct installations behind it. */
	readonly installations: number;
	/** Never published: a total the relations mention but the output does not have. */
	readonly unpublished?: boolean;
	/** Always published, whatever backs it (the window stats' installation and report totals). */
	readonly always?: boolean;
}

/** A relation the numbers satisfy, total = the sum of parts (or might, to an attacker: it is applied either way). */
export interface Relation {
	readonly total: string;
	/** Every member, published or not, including empty ones (closed value sets list every value). */
	readonly parts: readonly string[];
}

export interface Protected {
	/** The cells to publish. */
	readonly published: ReadonlySet<string>;
	/**
	 * Withheld cells the relations still determine because the only remedy would be to
	 * withhold an always-published total (only possible when that total itself is below
	 * the threshold). Empty for tables without always-published cells.
	 */
	readonly exposed: ReadonlySet<string>;
}

/** The first withheld, non-empty cell that a relation determines, and that relation's index; null when none is. */
function firstDetermined(
	cells: ReadonlyMap<string, Candidate>,
	members: readonly (readonly string[])[],
	published: ReadonlySet<string>,
	accepted: ReadonlySet<string>,
): { cell: string; relation: number } | null {
	const known = new Set<string>();
	for (const [id, c] of cells) {
		// Published numbers, and withheld cells that are in fact empty (the worst-case guess).
		if (published.has(id) || (!c.unpublished && c.value === 0)) known.add(id);
	}
	for (let changed = true; changed; ) {
		changed = false;
		for (let r = 0; r < members.length; r++) {
			let unknown: string | null = null;
			let count = 0;
			for (const id of members[r] ?? []) {
				if (known.has(id)) continue;
				unknown = id;
				if (++count > 1) break;
			}
			if (count !== 1 || unknown === null) continue;
			if (!cells.get(unknown)?.unpublished && !accepted.has(unknown)) return { cell: unknown, relation: r };
			// An unpublished total (or an accepted exposure) is now known to the attacker: carry on with it.
			known.add(unknown);
			changed = true;
		}
	}
	return null;
}

/** The published part of `relation` that is cheapest to withhold (smallest value, first in order); null if none. */
function complementOf(relation: Relation, cells: ReadonlyMap<string, Candidate>, published: ReadonlySet<string>): string | null {
	let best: string | null = null;
	for (const id of relation.parts) {
		const c = cells.get(id);
		if (!c || !published.has(id) || c.always) continue;
		if (best === null || c.value < (cells.get(best)?.value ?? Infinity)) best = id;
	}
	if (best !== null) return best;
	const total = cells.get(relation.total);
	return total && published.has(relation.total) && !total.always ? relation.total : null;
}

/**
 * Which cells may be published: those backed by at least `minInstallations`
 * installations (or always published), minus the complementary suppressions that keep
 * every withheld non-empty cell undetermined by `relations`. Deterministic.
 */
export function protect(cells: ReadonlyMap<string, Candidate>, relations: readonly Relation[], minInstallations: number): Protected {
	const published = new Set<string>();
	for (const [id, c] of cells) {
		if (c.always || (!c.unpublished && c.installations >= minInstallations)) published.add(id);
	}
	const exposed = new Set<string>();
	const members = relations.map((r) => [r.total, ...r.parts]);
	// Each round withholds one more cell or accepts one exposure, so this ends.
	for (let round = 0; round <= cells.size; round++) {
		const found = firstDetermined(cells, members, published, exposed);
		if (found === null) break;
		const relation = relations[found.relation];
		const complement = relation ? complementOf(relation, cells, published) : null;
		if (complement === null) exposed.add(found.cell);
		else published.delete(complement);
	}
	return { published, exposed };
}
