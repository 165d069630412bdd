// Parse Mermaid texts with the real Mermaid parser and print what it understood, for the Python tests.
// stdin: a JSON array of texts; stdout: a JSON array of {ok, error, type, vertices, edges, classes}.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false, securityLevel: "loose" });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const db = diagram.db;
    results.push({
      ok: true,
      type: diagram.type,
      vertices: [...db.getVertices().values()].map((v) => ({
        id: v.id, text: v.text, type: v.type ?? null, classes: v.classes, link: v.link ?? null,
      })),
      edges: db.getEdges().map((e) => ({ start: e.start, end: e.end, type: e.type, stroke: e.stroke, text: e.text })),
      classes: [...db.getClasses().keys()],
    });
  } catch (err) {
    results.push({ ok: false, error: String(err.message || err) });
  }
}
process.stdout.write(JSON.stringify(results));
