/**
 * The attacker's arithmetic, as an independent oracle for the suppression tests: given
 * relations "total = sum of parts" over named cells and which cells are unknown, which
 * unknown cells the relations determine exactly. Gaussian elimination: an unknown cell
 * is determined iff its unit vector lies in the row space of the relations restricted
 * to the unknown cells (known cells only move constants). No shortcut of the code under
 * test is used.
 */

export interface Relation {
	readonly total: string;
	readonly parts: readonly string[];
}

const EPS = 1e-9;

/** Rank of a matrix (rows of equal length), by elimination with partial pivoting. */
function rank(matrix: number[][]): number {
	const m = matrix.map((row) => [...row]);
	const cols = m[0]?.length ?? 0;
	let r = 0;
	for (let c = 0; c < cols && r < m.length; c++) {
		let pivot = r;
		for (let i = r + 1; i < m.length; i++) if (Math.abs(m[i]?.[c] ?? 0) > Math.abs(m[pivot]?.[c] ?? 0)) pivot = i;
		if (Math.abs(m[pivot]?.[c] ?? 0) < EPS) continue;
		[m[r], m[pivot]] = [m[pivot] ?? [], m[r] ?? []];
		const top = m[r] ?? [];
		for (let i = 0; i < m.length; i++) {
			if (i === r) continue;
			const row = m[i] ?? [];
			const f = (row[c] ?? 0) / (top[c] ?? 1);
			if (f !== 0) for (let j = c; j < cols; j++) row[j] = (row[j] ?? 0) - f * (top[j] ?? 0);
		}
		r++;
	}
	return r;
}

/** The unknown cells that `relations` determine, when every other cell's value is known. */
export function determined(unknowns: Iterable<string>, relations: readonly Relation[]): Set<string> {
	const columns = [...new Set(unknowns)];
	const index = new Map(columns.map((c, i) => [c, i]));
	const rows: number[][] = [];
	for (const rel of relations) {
		const row = new Array<number>(columns.length).fill(0);
		const t = index.get(rel.total);
		if (t !== undefined) row[t] = (row[t] ?? 0) + 1;
		for (const p of rel.parts) {
			const i = index.get(p);
			if (i !== undefined) row[i] = (row[i] ?? 0) - 1;
		}
		if (row.some((v) => v !== 0)) rows.push(row);
	}
	const base = rows.length > 0 ? rank(rows) : 0;
	const out = new Set<string>();
	columns.forEach((c, i) => {
		const unit = new Array<number>(columns.length).fill(0);
		unit[i] = 1;
		if (rank([...rows, unit]) === base) out.add(c);
	});
	return out;
}
