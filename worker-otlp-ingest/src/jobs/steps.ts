/**
 * Draining a queue of stored reports in bounded steps (the rollup's and the history
 * backfill's), so that no batch that keeps failing can block what is queued behind it.
 * Pure control flow: the queue's SQL is passed in (db/rollups.ts, db/history.ts).
 *
 * A step takes every queued report of the telemetry IDs up to a bound, in one D1
 * batch. When a step fails, the next one covers half as many reports from the same
 * first installation, down to that installation alone; when it fails alone, its queued
 * reports count one failed run (`failures`) and the run stops there, since the same
 * step would fail again at once. A later run starts over at full size (a transient D1
 * error then costs nothing). After SET_ASIDE_AFTER failed runs (db/queue.ts, whose SQL
 * keeps the count) the installation's reports are set aside: they stay stored and
 * queued, counted in /v1/health, but no step takes them, and the run goes on with the
 * rest. Errors are described by their message with anything that could be a value cut
 * out, never with an ID.
 */
import type { StepCost, StepEnd } from "../db/queue";

export interface Queue {
	/** Where a step of just over `size` reports ends; null when nothing takeable is queued. One D1 query. */
	nextEnd(size: number): Promise<StepEnd | null>;
	/** One step, one transaction: all of it or nothing. One D1 query. */
	step(upTo: string): Promise<StepCost>;
	/** Counts a failed run against installation `id`'s queued reports; how many are set aside now. One D1 query. */
	fail(id: string): Promise<number>;
}

export interface Drained extends StepCost {
	/** Step slots used: a step, or a failure recorded (which costs a query of its own). */
	readonly steps: number;
	/** Nothing takeable was queued at the end. */
	readonly complete: boolean;
	/** The last step failure, described without values; null when no step failed. */
	readonly failed: string | null;
	/** Reports this run set aside. */
	readonly setAside: number;
}

/** An error's message without anything that could carry a stored value: for logs and /v1/health. */
export function describeError(error: unknown): string {
	const raw = error instanceof Error ? error.message : typeof error;
	const text = raw
		.replace(/^D1_ERROR:\s*/, "")
		.replace(/:\s*SQLITE_[A-Z_]+.*$/s, "")
		.replace(/'[^']*'|"[^"]*"/g, "…")
		// Any word holding a digit, longer than a small number: an ID, an address, a key, a count.
		.replace(/[^\s(),;]*\d[^\s(),;]*/g, (word) => (word.length > 2 ? "…" : word));
	return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

/**
 * Steps until nothing takeable is queued or `maxSteps` slots are used; each slot costs
 * at most two D1 queries, plus one last look. `size` is the usual step's report count.
 *
 * After a failed step the run searches for the failing installation by halving: it
 * knows the `bad` reports from the queue's start that failed together, tries the first
 * half, and whatever that half does, the failing part is now half as large — so a
 * failing installation is reached alone within log2(size) + 2 slots (13 for 2,000;
 * a run has at least 22). A failing range taken in whole after all (a failure that
 * needed two installations together, or a transient one) ends the search.
 */
export async function drain(queue: Queue, size: number, maxSteps: number): Promise<Drained> {
	let run: Drained = { steps: 0, reports: 0, complete: false, rowsRead: 0, rowsWritten: 0, failed: null, setAside: 0 };
	let next = size;
	let bad: number | null = null;
	const half = (reports: number): number => Math.max(0, Math.floor((reports - 1) / 2));
	while (run.steps < maxSteps) {
		const end = await queue.nextEnd(next);
		if (end === null) return { ...run, complete: true };
		try {
			const cost = await queue.step(end.upTo);
			run = { ...run, steps: run.steps + 1, reports: run.reports + cost.reports, rowsRead: run.rowsRead + cost.rowsRead, rowsWritten: run.rowsWritten + cost.rowsWritten };
			bad = bad === null || bad <= cost.reports ? null : bad - cost.reports;
			next = bad === null ? size : Math.min(next, half(bad));
		} catch (error) {
			run = { ...run, steps: run.steps + 1, failed: describeError(error) };
			if (end.upTo !== end.first) {
				bad = end.reports;
				next = Math.min(Math.floor(next / 2), half(bad));
				continue;
			}
			// Recording the failure takes the last look's query when no slot is left.
			const last = run.steps >= maxSteps;
			const setAside = await queue.fail(end.first);
			run = { ...run, steps: Math.min(maxSteps, run.steps + 1), setAside: run.setAside + setAside };
			if (setAside === 0 || last) return run;
			bad = null;
			next = size;
		}
	}
	return { ...run, complete: (await queue.nextEnd(size)) === null };
}
