#!/usr/bin/env node
// Regenerates ../liquid_conformance.json from cases.js with liquidjs:
//   cd tests/templates/conformance && npm ci && node generate.js
process.env.TZ = 'UTC';  // Herald's default zone; set before any Date is made

const fs = require('fs');
const path = require('path');
const { Liquid } = require('liquidjs');
const { contexts, cases } = require('./cases');

const plain = new Liquid();
const escaping = new Liquid({ outputEscape: 'escape' });
// A money case's expected text is Intl's, with its no-break spaces as plain ones
// (they would force an SMS into UCS-2).
const intl = (amount, currency) =>
  new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(amount).replace(/[\u00a0\u202f]/g, ' ');

(async () => {
  const out = [];
  const problems = [];
  const names = new Set();
  for (const c of cases) {
    if (names.has(c.name)) problems.push(`${c.name}: duplicate name`);
    names.add(c.name);
    const engine = c.html ? escaping : plain;
    let liquidjs;
    try {
      liquidjs = await engine.parseAndRender(c.template, contexts[c.context]);
    } catch (e) {
      liquidjs = `ERROR: ${e.message}`;
    }
    const entry = { name: c.name, template: c.template, context: c.context };
    if (c.html) entry.html = true;
    if (c.differs) {
      if (c.herald === undefined) problems.push(`${c.name}: differs without a herald output`);
      if (c.herald === liquidjs) problems.push(`${c.name}: marked as differing but liquidjs agrees`);
      if (c.intl && intl(...c.intl) !== c.herald) {
        problems.push(`${c.name}: Intl says ${JSON.stringify(intl(...c.intl))}, the case ${JSON.stringify(c.herald)}`);
      }
      entry.expected = c.herald;
      entry.differs = c.differs;
      entry.liquidjs = liquidjs;
    } else {
      if (liquidjs.startsWith('ERROR:')) problems.push(`${c.name}: liquidjs failed: ${liquidjs}`);
      entry.expected = liquidjs;
    }
    out.push(entry);
  }
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  const fixture = {
    generator: `liquidjs ${require('liquidjs/package.json').version}, node ${process.version}, TZ=UTC`,
    contexts,
    cases: out,
  };
  const file = path.join(__dirname, '..', 'liquid_conformance.json');
  fs.writeFileSync(file, JSON.stringify(fixture, null, 1) + '\n');
  const differing = out.filter((c) => c.differs).length;
  console.log(`wrote ${out.length} cases (${differing} where Herald differs) to ${path.relative(process.cwd(), file)}`);
})();
