// Parse each Mermaid file named on the command line with Mermaid itself (in jsdom, no
// browser): exit 0 when every one parses, 1 otherwise, printing each file's verdict.
// .ci/install-mermaid copies this next to its node_modules; tests/e2e/graph.rs runs it.
import fs from "fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMParser = dom.window.DOMParser;
globalThis.Element = dom.window.Element;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });
let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    const r = await mermaid.parse(fs.readFileSync(file, "utf8"));
    console.log(`${file}: ok (${r.diagramType})`);
  } catch (e) {
    failed++;
    console.log(`${file}: ${e.message || e}`);
  }
}
process.exit(failed ? 1 : 0);
