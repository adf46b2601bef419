/**
 * steps.ts drain (property): over any queue with any installations whose steps always
 * fail, repeated runs take every other report exactly once, set aside exactly the
 * failing installations after SET_ASIDE_AFTER failed runs each, stay within their step
 * slots, and never describe an error with a value in it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SET_ASIDE_AFTER, type StepEnd } from "../../src/db/queue";
import { describeError, drain, type Queue } from "../../src/jobs/steps";

/** A queue in memory: installation IDs (sorted) with their queued report counts. */
class MemoryQueue implements Queue {
	readonly taken = new Map<string, number>();
	readonly failures = new Map<string, number>();
	queries = 0;
	constructor(
		readonly queued: Map<string, number>,
		readonly poison: ReadonlySet<string>,
	) {}
	private takeable(): string[] {
		return [...this.queued.keys()].filter((id) => (this.failures.get(id) ?? 0) < SET_ASIDE_AFTER).sort();
	}
	async nextEnd(size: number): Promise<StepEnd | null> {
		this.queries++;
		const ids = this.takeable();
		if (ids.length === 0) return null;
		let seen = 0;
		let upTo = ids[ids.length - 1] ?? "";
		for (const id of ids) {
			seen += this.queued.get(id) ?? 0;
			if (seen > size) {
				upTo = id;
				break;
			}
		}
		const reports = ids.filter((id) => id <= upTo).reduce((n, id) => n + (this.queued.get(id) ?? 0), 0);
		return { upTo, first: ids[0] ?? "", reports };
	}
	async step(upTo: string): Promise<{ reports: number; rowsRead: number; rowsWritten: number }> {
		this.queries++;
		const ids = this.takeable().filter((id) => id <= upTo);
		if (ids.some((id) => this.poison.has(id))) throw new Error(`D1_ERROR: CHECK constraint failed for '${ids[0]}' 123456: SQLITE_CONSTRAINT`);
		let reports = 0;
		for (const id of ids) {
			reports += this.queued.get(id) ?? 0;
			this.taken.set(id, (this.taken.get(id) ?? 0) + (this.queued.get(id) ?? 0));
			this.queued.delete(id);
		}
		return { reports, rowsRead: 0, rowsWritten: 0 };
	}
	async fail(id: string): Promise<number> {
		this.queries++;
		const failures = (this.failures.get(id) ?? 0) + 1;
		this.failures.set(id, failures);
		return failures >= SET_ASIDE_AFTER ? (this.queued.get(id) ?? 0) : 0;
	}
}

describe("drain (property)", () => {
	it("takes every healthy report once and sets aside exactly the failing installations", async () => {
		const installations = fc.uniqueArray(fc.tuple(fc.integer({ min: 1000, max: 9999 }).map(String), fc.integer({ min: 1, max: 5 }), fc.boolean()), {
			minLength: 1,
			maxLength: 30,
			selector: (t) => t[0],
		});
		await fc.assert(
			fc.asyncProperty(installations, fc.integer({ min: 1, max: 40 }), fc.nat(6), async (list, size, extra) => {
				// Enough slots to reach a failing installation alone (steps.ts), and sometimes a few more.
				const maxSteps = Math.ceil(Math.log2(size + 1)) + 2 + extra;
				const poisoned = list.filter(([, , bad]) => bad);
				const queue = new MemoryQueue(new Map(list.map(([id, n]) => [id, n])), new Set(poisoned.map(([id]) => id)));
				let runs = 0;
				for (;;) {
					const before = queue.queries;
					const run = await drain(queue, size, maxSteps);
					expect(queue.queries - before).toBeLessThanOrEqual(2 * maxSteps + 1);
					if (run.failed !== null) expect(run.failed).not.toMatch(/\d{3}|'/);
					runs++;
					if (run.complete) break;
					expect(runs).toBeLessThan(500);
				}
				for (const [id, n, bad] of list) {
					expect(queue.taken.get(id)).toBe(bad ? undefined : n);
					expect(queue.failures.get(id) ?? 0).toBe(bad ? SET_ASIDE_AFTER : 0);
				}
			}),
			{ numRuns: 300 },
		);
	}, 60_000);

	it("describes an error by its message without quoted text, IDs, addresses or long numbers", () => {
		expect(describeError(new Error("D1_ERROR: CHECK constraint failed: total >= 0 AND installations >= 0: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_CHECK)"))).toBe(
			"CHECK constraint failed: total >= 0 AND installations >= 0",
		);
		expect(describeError(new Error("D1_ERROR: integer overflow: SQLITE_ERROR"))).toBe("integer overflow");
		expect(describeError(new Error("boom 7d2e3f4a-6b7c-4d8e-9f0a-1b2c3d4e5f6a 203.0.113.77 2001:db8::77 'kokoro' 9007199254740991"))).toBe("boom … … … … …");
		expect(describeError("not an error")).toBe("string");
	});
});
