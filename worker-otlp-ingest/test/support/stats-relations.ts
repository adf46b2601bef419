/**
 * The relations a /v1/stats window response obeys, written from the contract (not from
 * src/stats/suppression.ts's tables), and the cells an attacker does not know: the session
 * total (never published) and every cell the truth has but the response leaves out.
 */
import { CONTRACT, PROVIDERS, PROVIDER_NAME, PROVIDER_ROLE, TRANSPORT } from "../../src/contract";
import { INSTALLATION_COLUMNS } from "../../src/db/rows";
import type { Aggregates, Stats } from "../../src/stats/window";
import type { Relation } from "./derivation";

const id = (...keys: string[]): string => JSON.stringify(keys);
const values = (key: string): readonly string[] => CONTRACT.pointAttributes.get(key)?.values ?? [];

export interface Attack {
	readonly relations: Relation[];
	/** Cells with a non-empty true value that the response does not publish (and the session total). */
	readonly unknowns: string[];
	/** The true value of each cell. */
	readonly truth: Map<string, number>;
}

export function attackOnStats(truthAgg: Aggregates, published: Stats): Attack {
	const truth = new Map<string, number>();
	const add = (cell: string, v: number): void => {
		truth.set(cell, (truth.get(cell) ?? 0) + v);
	};
	for (const b of truthAgg.bins) add(id("metrics", b.metric, "bins", b.bin), b.sessions);
	for (const p of truthAgg.providers) add(id("metrics", PROVIDERS, p.role, p.provider), p.sessions);
	for (const t of truthAgg.transports) add(id("transport", t.transport), t.sessions);
	const keyOf = new Map<string, string>(Object.entries(INSTALLATION_COLUMNS).map(([k, c]) => [c, k]));
	for (const f of truthAgg.facts) add(id("environment", keyOf.get(f.column) ?? f.column, f.value ?? "unknown"), f.installations);
	const shown = new Set<string>();
	const walk = (node: unknown, keys: string[]): void => {
		if (typeof node === "number") shown.add(id(...keys));
		else if (node && typeof node === "object") for (const [k, v] of Object.entries(node)) walk(v, [...keys, k]);
	};
	walk({ metrics: published.metrics, transport: published.transport, environment: published.environment }, []);
	const cellsUnder = (...keys: string[]): string[] => {
		const prefix = `${id(...keys).slice(0, -1)},`;
		return [...new Set([...truth.keys(), ...shown])].filter((c) => c.startsWith(prefix));
	};
	const histograms = [...CONTRACT.metrics.values()].filter((m) => m.instrument === "histogram");
	const relations: Relation[] = [
		...histograms.map((h) => ({ total: "sessions", parts: cellsUnder("metrics", h.name, "bins") })),
		{ total: "sessions", parts: cellsUnder("transport") },
		...values(PROVIDER_ROLE).map((role) => ({ total: "sessions", parts: cellsUnder("metrics", PROVIDERS, role) })),
		...Object.keys(INSTALLATION_COLUMNS).map((key) => ({ total: id("installations"), parts: cellsUnder("environment", key) })),
	];
	void TRANSPORT;
	void PROVIDER_NAME;
	const unknowns = ["sessions", ...[...truth].filter(([c, v]) => v > 0 && !shown.has(c)).map(([c]) => c)];
	return { relations, unknowns, truth };
}
