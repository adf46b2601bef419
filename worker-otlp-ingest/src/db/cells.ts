/**
 * A report's cells and their compact stored form. Pure; everything comes from the
 * contract.
 *
 * A cell is one non-empty histogram bin or provider count of one report. It is stored
 * in `reports.cells` as a 4-tuple of small integers, `[m, a, b, sessions]`:
 *   m  the metric's index in the contract's `metrics` (0 duration, 1 exchanges, 2 providers)
 *   a  the index of the metric's first attribute value in its contract value list
 *      (the transport of a histogram point, the role of a provider count)
 *   b  the bin's index (histograms) or the second attribute value's index (the provider name)
 * e.g. `[0,0,1,2]` = 2 sessions of 1-5 min over the local transport. That is ~10 bytes
 * per cell instead of ~75 for `{"metric":…,"transport":…,"bin":…,"sessions":…}`
 * (docs/capacity.md: 241 instead of 2,077 bytes per report on disk).
 *
 * Indexes into the contract's lists stay valid as long as values are only appended,
 * which is how a closed set grows. The names behind every (m, a, b) are also a table in
 * D1, `cell_names` (migrations/0002), so the `report_cells` view and any SQL client
 * decode stored rows without this code; `cellNames()` is that table's content, and a
 * test fails when the contract and the migrated table disagree (a new value then needs
 * a migration adding its rows).
 */
import { CONTRACT, PROVIDER_NAME, PROVIDER_ROLE, TRANSPORT, type MetricSpec } from "../contract";

/** The `report_cells` view's columns, keyed by the contract attribute each one holds. */
export const CELL_COLUMNS: Readonly<Record<string, CellColumn>> = {
	[TRANSPORT]: "transport",
	[PROVIDER_ROLE]: "role",
	[PROVIDER_NAME]: "provider",
};
export type CellColumn = "transport" | "role" | "provider";

/** One non-empty histogram bin or provider count of one report, by name. */
export interface Cell {
	readonly metric: string;
	readonly transport?: string;
	readonly bin?: string;
	readonly role?: string;
	readonly provider?: string;
	readonly sessions: number;
}

/** A cell as stored: [metric index, a, b, sessions] (see the module comment). */
export type CellTuple = readonly [m: number, a: number, b: number, sessions: number];

/** One row of the `cell_names` table: the names behind a cell code; null = not part of this cell. */
export interface CellName {
	readonly m: number;
	readonly a: number;
	readonly b: number;
	readonly metric: string;
	readonly transport: string | null;
	readonly bin: string | null;
	readonly role: string | null;
	readonly provider: string | null;
}

type Dimension = { readonly column: CellColumn | "bin"; readonly values: readonly string[] };

/** A metric's two coded dimensions, in tuple order: its attributes, then its bins. */
function dimensions(spec: MetricSpec): readonly [Dimension, Dimension] {
	const dims: Dimension[] = spec.attributes.map((key) => {
		const column = CELL_COLUMNS[key];
		const values = CONTRACT.pointAttributes.get(key)?.values;
		if (!column || !values) throw new Error(`contract: ${key} is not a closed point attribute with a cell column`);
		return { column, values };
	});
	if (spec.instrument === "histogram") dims.push({ column: "bin", values: spec.bins });
	const [a, b] = dims;
	// The tuple, the cell_names table and the view have exactly two coded columns.
	if (!a || !b || dims.length !== 2) throw new Error(`contract: ${spec.name} does not have exactly two cell dimensions`);
	return [a, b];
}

const METRICS = [...CONTRACT.metrics.values()].map((spec) => ({ spec, dims: dimensions(spec) }));

function indexOf(values: readonly string[], value: string | undefined, what: string): number {
	const i = value === undefined ? -1 : values.indexOf(value);
	if (i === -1) throw new Error(`no contract index for ${what} ${String(value)}`);
	return i;
}

/** The stored tuple of a cell. Throws for a cell outside the contract (validated input never is). */
export function encodeCell(cell: Cell): CellTuple {
	const m = METRICS.findIndex((x) => x.spec.name === cell.metric);
	const entry = METRICS[m];
	if (!entry) throw new Error(`no contract metric ${cell.metric}`);
	const [a, b] = entry.dims.map((d) => indexOf(d.values, cell[d.column], d.column));
	return [m, a ?? -1, b ?? -1, cell.sessions];
}

/** Tuples in canonical order (by m, a, b), so equal reports store byte-equal JSON. */
export function encodeCells(cells: readonly Cell[]): CellTuple[] {
	return cells.map(encodeCell).sort((x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2]);
}

/** Every code of the contract with its names: the content of the `cell_names` table. */
export function cellNames(): CellName[] {
	return METRICS.flatMap(({ spec, dims: [da, db] }, m) =>
		da.values.flatMap((va, a) =>
			db.values.map((vb, b) => {
				const named: Record<CellColumn | "bin", string | null> = { transport: null, bin: null, role: null, provider: null };
				named[da.column] = va;
				named[db.column] = vb;
				return { m, a, b, metric: spec.name, ...named };
			}),
		),
	);
}
