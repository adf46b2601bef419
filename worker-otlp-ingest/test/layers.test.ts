/**
 * src/ is layered, and each layer folder keeps to what its README.md says: every import
 * of its files stays in the folder or reaches a folder or file its "May import" line
 * names; its "Must not import" line names every other layer, so the note cannot fall
 * silent on one; contract.ts and gen/ at the bottom import no layer; and no file of
 * src/ reaches itself again through its imports.
 */
import { describe, expect, it } from "vitest";
import { entryOf, importsOf, sourceFiles } from "./support/sources";

const notes = import.meta.glob("../src/*/README.md", { query: "?raw", import: "default", eager: true });

/** The layer folders: every folder of src/ but the generated code. */
const LAYERS = [...new Set(sourceFiles().map(entryOf))].filter((entry) => entry.endsWith("/") && entry !== "gen/").sort();

/** The top-level entries of src/ a note may name: its folders and its files. */
const ENTRIES = new Set(sourceFiles().map(entryOf));

/** The backticked names of a "**Label:**" list, parenthesised remarks left out. */
function listed(note: string, label: string): string[] {
	const start = note.indexOf(`**${label}:**`);
	if (start < 0) return [];
	const rest = note.slice(start + label.length + 6).replace(/\([^)]*\)/g, "");
	const run = /^\s*((?:`[^`]+`\s*,?\s*)+)/.exec(rest);
	return run?.[1] ? [...run[1].matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? "") : [];
}

function noteOf(layer: string): string {
	return notes[`../src/${layer}README.md`] ?? "";
}

describe("the layers of src/", () => {
	it("are the six folders the map names, each with its README.md", () => {
		expect(LAYERS).toEqual(["dashboard/", "db/", "ingest/", "jobs/", "routes/", "stats/"]);
		expect(Object.keys(notes).map((key) => key.slice("../src/".length, -"README.md".length)).sort()).toEqual(LAYERS);
	});

	it.each(LAYERS)("%s: its note names real entries, and every other layer as allowed or not", (layer) => {
		const may = listed(noteOf(layer), "May import");
		const mustNot = listed(noteOf(layer), "Must not import");
		expect(may.length).toBeGreaterThan(0);
		for (const entry of [...may, ...mustNot]) expect(ENTRIES.has(entry), entry).toBe(true);
		expect(may.filter((entry) => mustNot.includes(entry))).toEqual([]);
		const named = new Set([layer, ...may, ...mustNot]);
		expect([...LAYERS, "index.ts"].filter((entry) => !named.has(entry))).toEqual([]);
	});

	it.each(LAYERS)("%s: imports only from itself and what its note allows", (layer) => {
		const allowed = new Set([layer, ...listed(noteOf(layer), "May import")]);
		const offending = sourceFiles()
			.filter((file) => file.startsWith(layer))
			.flatMap((file) => importsOf(file).map((target) => [file, target] as const))
			.filter(([, target]) => !allowed.has(entryOf(target)));
		expect(offending).toEqual([]);
	});

	it("has contract.ts and gen/ at the bottom: they import no layer", () => {
		const bottom = sourceFiles().filter((file) => file === "contract.ts" || file.startsWith("gen/"));
		expect(bottom).toContain("contract.ts");
		const offending = bottom.flatMap((file) => importsOf(file).map((target) => [file, target] as const)).filter(([, target]) => entryOf(target) !== "gen/" && entryOf(target) !== "contract.ts");
		expect(offending).toEqual([]);
	});

	it("has no circle: no file reaches itself through its imports", () => {
		const state = new Map<string, "open" | "done">();
		const circles: string[][] = [];
		const visit = (file: string, path: string[]): void => {
			if (state.get(file) === "done") return;
			if (state.get(file) === "open") {
				circles.push([...path.slice(path.indexOf(file)), file]);
				return;
			}
			state.set(file, "open");
			for (const target of importsOf(file)) if (!target.startsWith("../")) visit(target, [...path, file]);
			state.set(file, "done");
		};
		for (const file of sourceFiles()) visit(file, []);
		expect(circles).toEqual([]);
	});
});
