/**
 * Complementary suppression (src/stats/suppression.ts) against an independent oracle: on
 * random tables of star-shaped relations (a total, several decompositions of it), no
 * withheld non-empty cell is determined by the published numbers — checked by Gaussian
 * elimination (test/support/derivation.ts), with the worst-case attacker who knows
 * which withheld cells are empty.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { protect, type Candidate, type Relation } from "../../src/stats/suppression";
import { determined } from "../support/derivation";

interface Table {
	cells: Map<string, Candidate>;
	relations: Relation[];
}

/**
 * Tables built from microdata, as the Worker's are: installations, each with some
 * sessions, every session (or, for a table of installations, every installation) falling
 * into one category of each decomposition. A part counts the sessions (installations) in
 * its category and the distinct installations behind them; the total counts them all.
 */
const star = fc.record({
	total: fc.constantFrom("published", "unpublished", "always"),
	counts: fc.constantFrom("sessions", "installations"),
	sizes: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }),
	installations: fc.array(
		fc.record({ sessions: fc.integer({ min: 0, max: 6 }), picks: fc.array(fc.nat(), { minLength: 24, maxLength: 24 }) }),
		{ maxLength: 14 },
	),
});

type Star = typeof star extends fc.Arbitrary<infer T> ? T : never;

function build(stars: readonly Star[]): Table {
	const cells = new Map<string, Candidate>();
	const relations: Relation[] = [];
	stars.forEach((s, si) => {
		const total = `t${si}`;
		const units = s.installations.flatMap((inst, ii) =>
			s.counts === "installations" ? [{ inst: ii, picks: inst.picks, offset: 0 }] : Array.from({ length: inst.sessions }, (_, k) => ({ inst: ii, picks: inst.picks, offset: k })),
		);
		s.sizes.forEach((n, ri) => {
			const parts = Array.from({ length: n }, (_, pi) => `t${si}.r${ri}.p${pi}`);
			const members = parts.map(() => ({ value: 0, installations: new Set<number>() }));
			for (const u of units) {
				const m = members[((u.picks[ri] ?? 0) + u.offset * (ri + 1)) % n];
				if (!m) continue;
				m.value += 1;
				m.installations.add(u.inst);
			}
			parts.forEach((id, pi) => cells.set(id, { value: members[pi]?.value ?? 0, installations: members[pi]?.installations.size ?? 0 }));
			relations.push({ total, parts });
		});
		const installations = new Set(units.map((u) => u.inst)).size;
		cells.set(total, { value: units.length, installations, ...(s.total === "unpublished" ? { unpublished: true } : {}), ...(s.total === "always" ? { always: true } : {}) });
	});
	return { cells, relations };
}

/** The cells the oracle finds determined that must not be: withheld, non-empty, not an unpublished total. */
function leaks(table: Table, published: ReadonlySet<string>): string[] {
	const unknowns = [...table.cells].filter(([id, c]) => !published.has(id) && (c.value > 0 || c.unpublished)).map(([id]) => id);
	return [...determined(unknowns, table.relations)].filter((id) => !table.cells.get(id)?.unpublished);
}

describe("protect (property: no withheld cell can be computed)", () => {
	it("leaves no withheld non-empty cell determined, publishes nothing below the threshold, and exposes only under an always-published total below it", () => {
		fc.assert(
			fc.property(fc.array(star, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 8 }), (stars, k) => {
				const table = build(stars);
				const { published, exposed } = protect(table.cells, table.relations, k);
				for (const id of published) {
					const c = table.cells.get(id);
					expect(c?.always || (c !== undefined && !c.unpublished && c.installations >= k)).toBe(true);
				}
				const leaked = leaks(table, published);
				expect(leaked.filter((id) => !exposed.has(id))).toEqual([]);
				if (exposed.size > 0) {
					expect([...table.cells.values()].some((c) => c.always && c.installations < k)).toBe(true);
				}
			}),
			{ numRuns: 2000 },
		);
	});

	it("is deterministic, and withholds a complement only in a relation that holds a small non-empty cell", () => {
		fc.assert(
			fc.property(fc.array(star, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 8 }), (stars, k) => {
				const table = build(stars);
				const first = protect(table.cells, table.relations, k);
				expect([...protect(table.cells, table.relations, k).published]).toEqual([...first.published]);
				const small = (id: string): boolean => {
					const c = table.cells.get(id);
					return c !== undefined && !c.always && !c.unpublished && c.value > 0 && c.installations < k;
				};
				for (const [id, c] of table.cells) {
					const complement = !first.published.has(id) && (c.always || (!c.unpublished && c.installations >= k));
					if (!complement) continue;
					// Its relation, or (for a total) one of its relations, holds a small cell.
					const related = table.relations.filter((r) => r.total === id || r.parts.includes(id));
					expect(related.some((r) => [r.total, ...r.parts].some(small))).toBe(true);
				}
			}),
			{ numRuns: 1000 },
		);
	});

	it("withholds the smallest published part of the relation that would give a withheld cell away", () => {
		const cells = new Map<string, Candidate>([
			["total", { value: 30, installations: 30 }],
			["a", { value: 20, installations: 20 }],
			["b", { value: 7, installations: 7 }],
			["c", { value: 3, installations: 3 }],
			["d", { value: 0, installations: 0 }],
		]);
		const { published } = protect(cells, [{ total: "total", parts: ["a", "b", "c", "d"] }], 5);
		expect([...published].sort()).toEqual(["a", "total"]);
	});
});
