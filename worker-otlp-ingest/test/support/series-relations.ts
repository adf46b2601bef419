/**
 * The relations one bucket of a /v1/stats?series= response obeys, written from the
 * contract (independently of src/stats/series.ts), and the attack on it: which true non-empty
 * cells the response leaves null or unlisted, and whether the relations determine any.
 */
import { CONTRACT, PROVIDERS, PROVIDER_NAME, PROVIDER_ROLE, TRANSPORT } from "../../src/contract";
import type { SeriesBucket } from "../../src/stats/series";
import { determined, type Relation } from "./derivation";

export const FACT_KEYS = ["service.version", "os.type", "voicemode.mcp.host"];
const id = (...keys: string[]): string => JSON.stringify(keys);
const values = (key: string): readonly string[] => CONTRACT.pointAttributes.get(key)?.values ?? CONTRACT.resourceAttributes.get(key)?.values ?? [];
const HISTOGRAMS = [...CONTRACT.metrics.values()].filter((m) => m.instrument === "histogram");

/** The published cells of a bucket by id (nulls left out). */
export function publishedCells(bucket: SeriesBucket): Map<string, number> {
	const out = new Map<string, number>();
	const walk = (node: unknown, keys: string[]): void => {
		if (typeof node === "number") out.set(id(...keys), node);
		else if (node && typeof node === "object") for (const [k, v] of Object.entries(node)) walk(v, [...keys, k]);
	};
	const { start: _start, ...cells } = bucket;
	walk(cells, []);
	return out;
}

/** The true cells of a bucket whose value is not zero, and the relations between all cells. */
export function relationsOf(truth: ReadonlyMap<string, number>): Relation[] {
	const all = [...truth.keys()];
	const under = (...keys: string[]): string[] => {
		const prefix = `${id(...keys).slice(0, -1)},`;
		const listed = all.filter((c) => c.startsWith(prefix));
		return listed;
	};
	void PROVIDER_NAME;
	void TRANSPORT;
	return [
		...FACT_KEYS.map((key) => ({ total: id("installations"), parts: under("environment", key) })),
		...HISTOGRAMS.map((h) => ({ total: id("sessions"), parts: under("metrics", h.name, "bins") })),
		{ total: id("sessions"), parts: under("transport") },
		...values(PROVIDER_ROLE).map((role) => ({ total: id("sessions"), parts: under("metrics", PROVIDERS, role) })),
	];
}

/** The non-empty true cells that the published bucket lets an attacker compute (should be none). */
export function computable(truth: ReadonlyMap<string, number>, bucket: SeriesBucket): string[] {
	const published = publishedCells(bucket);
	const unknowns = [...truth].filter(([c, v]) => v > 0 && !published.has(c)).map(([c]) => c);
	return [...determined(unknowns, relationsOf(truth))];
}
