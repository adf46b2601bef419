/**
 * The Worker's docs stay true to the code: README.md's map of src/ names every source
 * file and nothing that is not there; every link between the project's documents
 * reaches a document and a heading that exist (the reference moved out of README.md
 * into docs/, and links to its old sections must not dangle); and the D1 cost of an
 * accepted report that docs/worker-storage.md, docs/worker-api.md and docs/capacity.md
 * state is the one D1 reports for the Worker's own batch — one measured total, stated
 * the same everywhere (the rate-limit section once said "2 of the 5" while the rest
 * said 6).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { storeReport } from "../src/db/reports";
import { currentWindow, idBucket, ipBucket } from "../src/ingest/ratelimit";
import { toRows } from "../src/db/rows";
import { tombstoneKey } from "../src/ingest/tombstone";
import { validateRequest } from "../src/ingest/validate";
import { buildRequest, hourMs } from "./support/otlp";
import { sourceFiles } from "./support/sources";
import { uuid } from "./support/worker";

/** The project's documents by path from the repository root. */
const DOCS = Object.fromEntries(
	Object.entries(
		import.meta.glob(["../../*.md", "../../*/*.md", "../../docs/**/*.md", "../src/*/README.md"], {
			query: "?raw",
			import: "default",
			eager: true,
		}),
	).map(([key, text]) => [key.startsWith("../../") ? key.slice("../../".length) : `worker-otlp-ingest/${key.slice("../".length)}`, text]),
);
const README = DOCS["worker-otlp-ingest/README.md"] ?? "";
const MIGRATIONS = Object.keys(import.meta.glob("../migrations/*.sql", { query: "?raw", import: "default", eager: true }));
const TESTS = Object.keys(import.meta.glob("./**/*.test.ts", { query: "?raw", import: "default", eager: true }));

/** A document without its fenced code blocks, where a "#" line is a comment and a "](" no link. */
function prose(text: string): string {
	return text.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "");
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens; repeats numbered. */
function anchors(text: string): Set<string> {
	const seen = new Map<string, number>();
	const out = new Set<string>();
	for (const [, heading] of prose(text).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
		const slug = (heading ?? "").toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
		const n = seen.get(slug) ?? 0;
		seen.set(slug, n + 1);
		out.add(n === 0 ? slug : `${slug}-${n}`);
	}
	return out;
}

/** `path` from the repository root with "." and ".." resolved. */
function normalize(path: string): string {
	const out: string[] = [];
	for (const part of path.split("/")) {
		if (part === "..") out.pop();
		else if (part !== "." && part !== "") out.push(part);
	}
	return out.join("/");
}

/** The links of `doc` to a document or a heading: [target document, anchor or ""]. */
function links(doc: string, text: string): [string, string][] {
	const dir = doc.includes("/") ? doc.slice(0, doc.lastIndexOf("/") + 1) : "";
	return [...prose(text).matchAll(/\]\(([^)\s]*?)(?:#([^)\s]*))?\)/g)]
		.filter(([, target, anchor]) => (target === "" && anchor !== undefined) || (!(target ?? "").includes("://") && (target ?? "").endsWith(".md")))
		.map(([, target, anchor]) => [target ? normalize(dir + target) : doc, anchor ?? ""]);
}

/** The first word of each line of the README's map: the paths it names. */
function mapped(): string[] {
	const section = README.slice(README.indexOf("## The map of `src/`"));
	const block = /```\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
	return block
		.split("\n")
		.map((line) => line.split(/\s+/)[0] ?? "")
		.filter((word) => word !== "");
}

async function measured(): Promise<{ total: number; rateLimitRows: number }> {
	const now = Date.now();
	const id = uuid();
	const [checked] = validateRequest(buildRequest({ id, startMs: hourMs(now, 3), endMs: hourMs(now, 0) }), now);
	if (!checked?.ok) throw new Error("fixture must be valid");
	const buckets = [idBucket(id), await ipBucket("k", `203.0.113.${Math.floor(Math.random() * 200)}`, now)] as const;
	const before = (await env.DB.prepare("SELECT COUNT(*) AS n FROM rate_limits").first<{ n: number }>())?.n ?? 0;
	const outcome = await storeReport(env.DB, toRows(checked.report, now), buckets, currentWindow(now).start, await tombstoneKey("k", id));
	if (outcome.kind !== "stored") throw new Error(outcome.kind);
	const after = (await env.DB.prepare("SELECT COUNT(*) AS n FROM rate_limits").first<{ n: number }>())?.n ?? 0;
	return { total: outcome.rowsWritten, rateLimitRows: after - before };
}

describe("README.md's map of src/", () => {
	it("names only paths that exist", () => {
		const names = mapped();
		expect(names.length).toBeGreaterThan(40);
		const files = new Set(sourceFiles().map((file) => `src/${file}`));
		const missing = names.filter((name) => {
			if (name === "migrations/") return MIGRATIONS.length === 0;
			if (name === "test/") return TESTS.length === 0;
			return name.endsWith("/") ? ![...files].some((file) => file.startsWith(name)) : !files.has(name);
		});
		expect(missing).toEqual([]);
	});

	it("names every source file, or the folder it is drawn as a whole (gen/)", () => {
		const names = new Set(mapped());
		const whole = [...names].filter((name) => name.endsWith("/") && ![...names].some((other) => other !== name && other.startsWith(name)));
		const unmapped = sourceFiles()
			.map((file) => `src/${file}`)
			.filter((file) => !names.has(file) && !whole.some((folder) => file.startsWith(folder)));
		expect(whole).toEqual(["src/gen/", "migrations/", "test/"]);
		expect(unmapped).toEqual([]);
	});
});

describe("links between the project's documents", () => {
	it("reach a document and a heading that exist", () => {
		expect(Object.keys(DOCS)).toEqual(expect.arrayContaining(["README.md", "docs/worker-api.md", "docs/worker-storage.md", "docs/operations.md", "worker-otlp-ingest/src/db/README.md"]));
		const broken = Object.entries(DOCS).flatMap(([doc, text]) =>
			links(doc, text)
				.filter(([target, anchor]) => DOCS[target] === undefined || (anchor !== "" && !anchors(DOCS[target] ?? "").has(anchor)))
				.map(([target, anchor]) => `${doc} → ${target}#${anchor}`),
		);
		expect(broken).toEqual([]);
	});
});

describe("the documented D1 cost of a report", () => {
	it("is the measured one in every place that states it", async () => {
		const { total, rateLimitRows } = await measured();
		const storage = DOCS["docs/worker-storage.md"] ?? "";
		const api = DOCS["docs/worker-api.md"] ?? "";
		expect(storage).toContain(`**${total} rows written per accepted report**`);
		const share = /Cost: (\d+) of the (\d+) rows written per report/.exec(api);
		expect(share?.slice(1).map(Number)).toEqual([rateLimitRows, total]);
		expect(DOCS["docs/capacity.md"]).toMatch(new RegExp(`D1 rows written per accepted report, at ingest \\| \\*\\*${total}\\*\\*`));
	});
});
