/**
 * Why a report is refused, collected while checking it. Reasons are short fixed texts
 * naming contract keys; client-sent names appear only through `shown`, never values.
 */
import { CONTRACT } from "../contract";

/**
 * Distinct reasons, privacy breaches (sum/min/max/exemplars) first, then in the order
 * found: the response names only the first few, and a broken privacy promise is what
 * a client's maintainer most needs to read. `added` counts every add, so a check can
 * tell whether it failed even when its reason was already known.
 */
export class Reasons {
	readonly #privacy = new Set<string>();
	readonly #other = new Set<string>();
	added = 0;
	add(reason: string, privacy = false): void {
		(privacy ? this.#privacy : this.#other).add(reason);
		this.added += 1;
	}
	get empty(): boolean {
		return this.added === 0;
	}
	list(): string[] {
		return [...this.#privacy, ...this.#other];
	}
}

/** A client-sent name safe to echo in a reason: short and plain, else a placeholder. */
export function shown(name: string): string {
	return name.length <= CONTRACT.maxValueLength && /^[A-Za-z0-9_.\-{}/]+$/.test(name) ? name : "(unprintable name)";
}
