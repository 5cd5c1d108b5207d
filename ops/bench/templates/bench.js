// liquidjs side of ops/bench/templates.sh: renders the same sources and
// context as bench_main.cpp, parsed once, rendered synchronously.
//   node bench.js SOURCES.json CONTEXT.json [SECONDS]
const fs = require('fs');
const { Liquid } = require('liquidjs');

const sources = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const context = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const seconds = Number(process.argv[4] || 3);

// liquidjs has no money filter: give it one as cheap as it can be.
const formats = new Map();
const money = (v, c) => {
  if (!formats.has(c)) formats.set(c, new Intl.NumberFormat('en-US', { style: 'currency', currency: c }));
  return formats.get(c).format(v);
};
const plain = new Liquid();
const escaping = new Liquid({ outputEscape: 'escape' });
for (const e of [plain, escaping]) e.registerFilter('money', money);

const sms = plain.parse(sources.sms);
const subject = plain.parse(sources.email.subject);
const html = escaping.parse(sources.email.html);
const text = plain.parse(sources.email.text);

function perSecond(render) {
  let sink = 0;
  for (let i = 0; i < 2000; i++) sink += render().length;
  let count = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) sink += render().length;
    count += 1000;
    now = process.hrtime.bigint();
  }
  if (sink === 42) console.error('');
  return count / (Number(now - start) / 1e9);
}

const smsRate = perSecond(() => plain.renderSync(sms, context));
const emailRate = perSecond(() => {
  plain.renderSync(subject, context);
  plain.renderSync(text, context);
  return escaping.renderSync(html, context);
});
console.log(JSON.stringify({ sms: smsRate, email: emailRate }));
