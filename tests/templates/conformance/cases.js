// The Liquid conformance corpus. `node generate.js` renders every case with
// liquidjs and writes ../liquid_conformance.json, which the Catch2 suite runs.
// A case where Herald deliberately differs carries `differs` (why) and
// `herald` (Herald's output); the generator records liquidjs's output beside
// it and fails if the two agree (a stale note). `intl: [amount, currency]`
// checks a money case against Intl.NumberFormat('en-US').

const contexts = {
  base: {
    customer: {
      id: 'c_42', first_name: 'Ada', last_name: 'Lovelace', email: 'ada@example.com', locale: 'en',
      tags: ['vip', 'early'], stats: { orders: 3, total_spent: 129.5 }, empty_list: [], nickname: '',
      vip: true, churned: false, score: 7, ratio: 0.25, note: '  padded  ', blank_note: '   ',
      bio: 'The quick brown fox jumps over the lazy dog', html: '<b>Tom & "Jerry"</b>', city: 'Montréal',
    },
    event: {
      name: 'cart.updated', timestamp: '2024-03-05T14:07:09Z',
      properties: {
        currency: 'EUR', cart_url: 'https://shop.example.com/cart?id=7&src=sms', total: 1234.5,
        items: [
          { name: 'Socks', price: 12.5, qty: 2 }, { name: 'Hat', price: 25, qty: 1 },
          { name: 'Scarf', price: 40, qty: 1 }, { name: 'Gloves', price: 19.99, qty: 3 },
        ],
      },
    },
    run: { workflow: 'cart_abandonment', variant: 'B' },
    data: {
      coupon: 'SAVE10', numbers: [3, 1, 2], words: 'alpha,beta,gamma', nested: { a: { b: { c: 'deep' } } },
      matrix: [[1, 2], [3, 4]], zero: 0, nothing: null, flag_str: 'false', epoch: 1700000000,
      mixed: [1, 'two', true, null], key: 'coupon', idx: 1, float: 2.5, big: 1e21, tiny: 0.0000001,
      neg: -3, str_num: '42', count: 10, obj: { x: 1, y: 'b' }, empty_obj: {},
    },
    unsubscribe_url: 'https://h.example.com/u/tok123',
  },
};

const c = [];
const add = (name, template, extra = {}) => c.push({ name, template, context: 'base', ...extra });

// ---- output and objects
add('output/plain text', 'Hello, world');
add('output/variable', 'Hi {{ customer.first_name }}!');
add('output/nested path', '{{ data.nested.a.b.c }}');
add('output/bracket string key', '{{ customer["first_name"] }}');
add('output/bracket index', '{{ customer.tags[1] }}');
add('output/negative index', '{{ customer.tags[-1] }}');
add('output/dynamic key', '{{ data[data.key] }}');
add('output/dynamic index', '{{ customer.tags[data.idx] }}');
add('output/missing variable', '[{{ customer.missing }}]');
add('output/missing root', '[{{ nope.deeper.still }}]');
add('output/null value', '[{{ data.nothing }}]');
add('output/integer', '{{ customer.score }}');
add('output/float', '{{ data.float }} {{ customer.ratio }}');
add('output/large float', '{{ data.big }}');
add('output/tiny float', '{{ data.tiny }}');
add('output/negative', '{{ data.neg }}');
add('output/booleans', '{{ customer.vip }} {{ customer.churned }}');
add('output/array concatenates', '{{ data.numbers }}');
add('output/nested arrays', '{{ data.matrix }}');
add('output/string literal', "{{ 'single' }} {{ \"double\" }}");
add('output/number literal', '{{ 42 }} {{ 3.5 }} {{ -7 }}');
add('output/array size property', '{{ customer.tags.size }}');
add('output/string size property', '{{ customer.first_name.size }}');
add('output/object size property', '{{ data.obj.size }}');
add('output/first and last properties', '{{ customer.tags.first }}-{{ customer.tags.last }}');
add('output/item of a list', '{{ event.properties.items[0].name }}');
add('output/unsubscribe_url', '{{ unsubscribe_url }}');
add('output/run object', '{{ run.workflow }}/{{ run.variant }}');
add('output/event object', '{{ event.name }} at {{ event.timestamp }}');
add('output/object', '{{ data.obj }}', {
  differs: 'an object prints as JSON rather than [object Object]', herald: '{"x":1,"y":"b"}',
});
add('output/no spaces', '{{customer.first_name}}');
add('output/unicode', '{{ customer.city }} ✓');
add('output/nil literal', '[{{ nil }}]');
add('output/boolean literal', '{{ true }}/{{ false }}');

// ---- whitespace control
add('whitespace/output trims left', 'a   \n  {{- customer.first_name }}');
add('whitespace/output trims right', '{{ customer.first_name -}}   \n   b');
add('whitespace/tag trims both', 'x\n  {%- if true -%}\n  y\n  {%- endif -%}\n  z');
add('whitespace/untrimmed tags keep newlines', 'x\n{% if true %}\ny\n{% endif %}\nz');
add('whitespace/assign trimmed', '{%- assign a = 1 -%}\n\n[{{ a }}]');
add('whitespace/for loop trimmed', '<ul>\n{%- for t in customer.tags %}\n  <li>{{ t }}</li>\n{%- endfor %}\n</ul>');
add('whitespace/only left trims', 'a \n{%- assign x = 1 %} \nb');
add('whitespace/trims tabs and newlines', "a\t\n\r\n{{- 'b' -}}\t\n c");

// ---- if / elsif / else / unless
add('if/true', '{% if customer.vip %}VIP{% endif %}');
add('if/false', '{% if customer.churned %}gone{% endif %}.');
add('if/else', '{% if customer.churned %}gone{% else %}here{% endif %}');
add('if/elsif', '{% if customer.score > 9 %}high{% elsif customer.score > 5 %}mid{% else %}low{% endif %}');
add('if/missing is falsy', '{% if customer.missing %}y{% else %}n{% endif %}');
add('if/null is falsy', '{% if data.nothing %}y{% else %}n{% endif %}');
add('if/zero is truthy', '{% if data.zero %}y{% else %}n{% endif %}');
add('if/empty string is truthy', '{% if customer.nickname %}y{% else %}n{% endif %}');
add('if/empty array is truthy', '{% if customer.empty_list %}y{% else %}n{% endif %}');
add('if/string "false" is truthy', '{% if data.flag_str %}y{% else %}n{% endif %}');
add('if/==', "{% if customer.first_name == 'Ada' %}y{% endif %}");
add('if/!=', "{% if customer.first_name != 'Bob' %}y{% endif %}");
add('if/<>', "{% if customer.first_name <> 'Bob' %}y{% endif %}", {
  differs: "Herald accepts Shopify's <> for != (liquidjs does not know it)", herald: 'y',
});
add('if/< and >', '{% if customer.score < 10 %}a{% endif %}{% if customer.score > 10 %}b{% endif %}');
add('if/<= and >=', '{% if customer.score <= 7 %}a{% endif %}{% if customer.score >= 8 %}b{% endif %}');
add('if/int equals float', '{% if 2 == 2.0 %}y{% else %}n{% endif %}');
add('if/string vs number equality is strict', "{% if data.str_num == 42 %}y{% else %}n{% endif %}");
add('if/string vs number ordering converts', "{% if data.str_num > 41 %}y{% else %}n{% endif %}");
add('if/string ordering', "{% if 'apple' < 'banana' %}y{% else %}n{% endif %}");
add('if/and', '{% if customer.vip and customer.score > 5 %}y{% else %}n{% endif %}');
add('if/or', '{% if customer.churned or customer.vip %}y{% else %}n{% endif %}');
add('if/and or right to left', '{% if true or false and false %}y{% else %}n{% endif %}');
add('if/or and right to left', '{% if false and false or true %}y{% else %}n{% endif %}');
add('if/contains string', "{% if customer.email contains '@example' %}y{% endif %}");
add('if/contains array', "{% if customer.tags contains 'vip' %}y{% endif %}{% if customer.tags contains 'x' %}n{% endif %}");
add('if/contains number in string', "{% if 'abc123' contains 12 %}y{% else %}n{% endif %}");
add('if/== empty', '{% if customer.empty_list == empty %}a{% endif %}{% if customer.nickname == empty %}b{% endif %}{% if customer.tags == empty %}c{% endif %}');
add('if/empty object == empty', '{% if data.empty_obj == empty %}y{% else %}n{% endif %}');
add('if/== blank', '{% if customer.blank_note == blank %}a{% endif %}{% if data.nothing == blank %}b{% endif %}{% if customer.first_name == blank %}c{% endif %}');
add('if/!= empty', '{% if customer.tags != empty %}y{% endif %}');
add('if/missing == nil', '{% if customer.missing == nil %}y{% else %}n{% endif %}');
add('if/arrays compare by value', '{% assign a = "1,2" | split: "," %}{% assign b = "1,2" | split: "," %}{% if a == b %}y{% else %}n{% endif %}');
add('if/nested', '{% if customer.vip %}{% if customer.score > 5 %}both{% endif %}{% endif %}');
add('if/literal condition', '{% if true %}t{% endif %}{% if false %}f{% endif %}{% if nil %}n{% endif %}');
add('unless/true', '{% unless customer.churned %}active{% endunless %}');
add('unless/else', '{% unless customer.vip %}regular{% else %}vip{% endunless %}');
add('unless/condition', '{% unless customer.score > 9 %}not high{% endunless %}');
add('if/nil ordering', '{% if data.nothing < 1 %}y{% else %}n{% endif %}', {
  differs: 'nil is never ordered against a number (liquidjs treats null as 0)', herald: 'n',
});

// ---- case / when
add('case/match', "{% case run.variant %}{% when 'A' %}alpha{% when 'B' %}beta{% else %}other{% endcase %}");
add('case/else', "{% case run.variant %}{% when 'X' %}x{% else %}other{% endcase %}");
add('case/no match no else', "[{% case run.variant %}{% when 'X' %}x{% endcase %}]");
add('case/comma list', "{% case customer.score %}{% when 1, 2 %}low{% when 6, 7, 8 %}mid{% endcase %}");
add('case/or list', "{% case customer.score %}{% when 5 or 7 %}odd{% endcase %}");
add('case/numbers', '{% case customer.stats.orders %}{% when 3 %}three{% endcase %}');
add('case/every matching when renders', "{% case 1 %}{% when 1 %}A{% when 1 %}B{% else %}C{% endcase %}");
add('case/whitespace before when', "{% case run.variant %}\n  {% when 'B' %}b{% endcase %}");
add('case/strict types', "{% case data.str_num %}{% when 42 %}num{% when '42' %}str{% endcase %}");

// ---- for
add('for/basic', '{% for t in customer.tags %}{{ t }};{% endfor %}');
add('for/objects in list', '{% for i in event.properties.items %}{{ i.name }}x{{ i.qty }} {% endfor %}');
add('for/limit', '{% for i in event.properties.items limit: 2 %}{{ i.name }} {% endfor %}');
add('for/offset', '{% for i in event.properties.items offset: 2 %}{{ i.name }} {% endfor %}');
add('for/limit and offset', '{% for n in (1..10) offset: 2 limit: 3 %}{{ n }}{% endfor %}');
add('for/limit before offset in the tag', '{% for n in (1..10) limit: 3 offset: 2 %}{{ n }}{% endfor %}');
add('for/reversed', '{% for n in data.numbers reversed %}{{ n }}{% endfor %}');
add('for/reversed with limit', '{% for n in (1..5) reversed limit: 2 %}{{ n }}{% endfor %}');
add('for/limit from a variable', '{% for n in (1..5) limit: data.idx %}{{ n }}{% endfor %}');
add('for/range', '{% for n in (1..4) %}{{ n }}{% endfor %}');
add('for/range with variable', '{% for n in (1..customer.stats.orders) %}{{ n }}{% endfor %}');
add('for/empty range', '[{% for n in (3..1) %}{{ n }}{% endfor %}]');
add('for/else on empty list', '{% for t in customer.empty_list %}{{ t }}{% else %}none{% endfor %}');
add('for/else on missing', '{% for t in customer.missing %}{{ t }}{% else %}none{% endfor %}');
add('for/else skipped', '{% for t in customer.tags %}{{ t }}{% else %}none{% endfor %}');
add('for/forloop.index', '{% for t in customer.tags %}{{ forloop.index }}:{{ t }} {% endfor %}');
add('for/forloop.index0', '{% for t in customer.tags %}{{ forloop.index0 }}{% endfor %}');
add('for/forloop.first and last', '{% for n in data.numbers %}{% if forloop.first %}[{% endif %}{{ n }}{% if forloop.last %}]{% else %},{% endif %}{% endfor %}');
add('for/forloop.length and rindex', '{% for n in data.numbers %}{{ forloop.length }}{{ forloop.rindex }}{{ forloop.rindex0 }} {% endfor %}');
add('for/nested loops', '{% for row in data.matrix %}{% for v in row %}{{ v }}{% endfor %};{% endfor %}');
add('for/nested forloop is innermost', '{% for a in (1..2) %}{% for b in (1..2) %}{{ forloop.index }}{% endfor %}{% endfor %}');
add('for/over object pairs', '{% for p in data.obj %}{{ p[0] }}={{ p[1] }};{% endfor %}');
add('for/over a string', '{% for s in customer.first_name %}<{{ s }}>{% endfor %}');
add('for/break', '{% for n in (1..5) %}{% if n == 3 %}{% break %}{% endif %}{{ n }}{% endfor %}');
add('for/continue', '{% for n in (1..5) %}{% if n == 3 %}{% continue %}{% endif %}{{ n }}{% endfor %}');
add('for/loop variable is scoped', '{% for t in customer.tags %}{% endfor %}[{{ t }}]');
add('for/offset past the end', '[{% for n in data.numbers offset: 10 %}{{ n }}{% endfor %}]');
add('for/limit zero', '[{% for n in data.numbers limit: 0 %}{{ n }}{% endfor %}]');
add('for/assign inside loop persists', '{% for n in data.numbers %}{% assign last_seen = n %}{% endfor %}{{ last_seen }}');

// ---- assign / capture / comment / raw
add('assign/string', "{% assign greeting = 'Hey' %}{{ greeting }} {{ customer.first_name }}");
add('assign/with filters', "{% assign name = customer.first_name | upcase | append: '!' %}{{ name }}");
add('assign/number', '{% assign n = 5 %}{{ n | plus: 1 }}');
add('assign/overrides context', "{% assign customer = 'x' %}{{ customer }}");
add('assign/reassign', '{% assign a = 1 %}{% assign a = a | plus: 1 %}{{ a }}');
add('assign/array from split', "{% assign parts = data.words | split: ',' %}{{ parts[1] }}/{{ parts.size }}");
add('assign/boolean', '{% assign ok = true %}{% if ok %}yes{% endif %}');
add('capture/basic', '{% capture msg %}Hi {{ customer.first_name }}{% endcapture %}[{{ msg }}]');
add('capture/quoted name', "{% capture 'msg' %}x{% endcapture %}{{ msg }}");
add('capture/with loop', '{% capture list %}{% for t in customer.tags %}{{ t }} {% endfor %}{% endcapture %}{{ list | strip }}');
add('capture/then filter', '{% capture s %}  spaced  {% endcapture %}[{{ s | strip }}]');
add('comment/block', 'a{% comment %} hidden {{ customer.first_name }} {% endcomment %}b');
add('comment/inline', 'a{% # hidden %}b');
add('raw/block', '{% raw %}{{ customer.first_name }} {% if %}{% endraw %}');
add('raw/trimmed', 'a {%- raw %} {{ x }} {% endraw -%} b');

// ---- string filters
add('filter/default missing', "{{ customer.missing | default: 'friend' }}");
add('filter/default empty string', "{{ customer.nickname | default: 'friend' }}");
add('filter/default empty array', "{{ customer.empty_list | default: 'none' }}");
add('filter/default false', "{{ customer.churned | default: 'd' }}");
add('filter/default allow_false', "{{ customer.churned | default: 'd', allow_false: true }}");
add('filter/default keeps value', "{{ customer.first_name | default: 'friend' }}");
add('filter/default keeps zero', "{{ data.zero | default: 'd' }}");
add('filter/default nil', "{{ data.nothing | default: 'd' }}");
add('filter/upcase', '{{ customer.first_name | upcase }}');
add('filter/upcase unicode', '{{ customer.city | upcase }}');
add('filter/downcase', "{{ 'HeLLo ÉCOLE' | downcase }}");
add('filter/capitalize', "{{ 'hELLO wORLD' | capitalize }}");
add('filter/capitalize unicode', "{{ 'élodie' | capitalize }}");
add('filter/strip', '[{{ customer.note | strip }}]');
add('filter/strip newlines and tabs', "[{{ '\n\t x \t\n' | strip }}]");
add('filter/truncate default', '{{ customer.bio | truncate }}');
add('filter/truncate', '{{ customer.bio | truncate: 13 }}');
add('filter/truncate custom ellipsis', "{{ customer.bio | truncate: 10, '…' }}");
add('filter/truncate empty ellipsis', "{{ customer.bio | truncate: 9, '' }}");
add('filter/truncate short enough', '{{ customer.first_name | truncate: 10 }}');
add('filter/truncate shorter than ellipsis', '[{{ customer.bio | truncate: 2 }}]');
add('filter/truncate unicode', "{{ 'Montréal café' | truncate: 8 }}");
add('filter/truncatewords', '{{ customer.bio | truncatewords: 3 }}');
add('filter/truncatewords custom', "{{ customer.bio | truncatewords: 2, '--' }}");
add('filter/truncatewords default', "{{ 'a b c d e f g h i j k l m n o p q' | truncatewords }}");
add('filter/truncatewords exact count', "{{ 'one two three' | truncatewords: 3 }}", {
  differs: 'no ellipsis when nothing was cut (Shopify Liquid); liquidjs appends it', herald: 'one two three',
});
add('filter/replace', "{{ 'a-b-c' | replace: '-', '+' }}");
add('filter/replace word', "{{ customer.bio | replace: 'the', 'a' }}");
add('filter/replace with nothing', "{{ 'banana' | replace: 'an', '' }}");
add('filter/append', "{{ customer.first_name | append: ' L.' }}");
add('filter/append number', '{{ customer.first_name | append: 3 }}');
add('filter/append variable', '{{ event.properties.cart_url | append: "&c=" | append: data.coupon }}');
add('filter/prepend', "{{ customer.last_name | prepend: 'Ms ' }}");
add('filter/split and join', "{{ data.words | split: ',' | join: ' / ' }}");
add('filter/split drops trailing empties', "{{ 'a,b,,c,,' | split: ',' | size }}");
add('filter/split keeps inner empties', "{{ 'a,,b' | split: ',' | join: '|' }}");
add('filter/split into characters', "{{ 'abc' | split: '' | join: '-' }}");
add('filter/split missing separator', "{{ 'abc' | split: ',' | first }}");
add('filter/join default separator', '{{ customer.tags | join }}');
add('filter/join numbers', "{{ data.numbers | join: ', ' }}");
add('filter/join mixed', "{{ data.mixed | join: ',' }}");
add('filter/join nested', "{{ data.matrix | join: ';' }}");
add('filter/join a string', "{{ customer.first_name | join: ',' }}");
add('filter/first', '{{ customer.tags | first }}');
add('filter/last', '{{ customer.tags | last }}');
add('filter/first of a string', '{{ customer.first_name | first }}');
add('filter/last of a string', '{{ customer.city | last }}');
add('filter/first of empty', '[{{ customer.empty_list | first }}]');
add('filter/first item property', '{{ event.properties.items | first | map_missing_is_not_used }}', { skip: true });
add('filter/size of array', '{{ customer.tags | size }}');
add('filter/size of string', '{{ customer.city | size }}');
add('filter/size of missing', '{{ customer.missing | size }}');
add('filter/size of number', '{{ customer.score | size }}');
add('filter/size of object', '{{ data.obj | size }}', {
  differs: "an object's size is its number of keys (as Shopify, and as liquidjs's .size)", herald: '2',
});
add('filter/chained', "{{ '  Hello World  ' | strip | downcase | replace: ' ', '-' | append: '.html' }}");

// ---- math filters
add('filter/plus', '{{ customer.score | plus: 3 }}');
add('filter/plus float', '{{ data.float | plus: 0.25 }}');
add('filter/plus string number', '{{ data.str_num | plus: 1 }}');
add('filter/plus float rounding', '{{ 0.1 | plus: 0.2 }}');
add('filter/minus', '{{ customer.score | minus: 10 }}');
add('filter/times', '{{ customer.score | times: 3 }}');
add('filter/times float', '{{ 3 | times: 1.1 }}');
add('filter/divided_by exact', '{{ data.count | divided_by: 5 }}');
add('filter/divided_by fraction', '{{ data.count | divided_by: 4 }}');
add('filter/divided_by float', '{{ 7 | divided_by: 2.0 }}');
add('filter/divided_by zero', '[{{ 7 | divided_by: 0 }}]', {
  differs: 'division by zero gives nil (an empty output), not Infinity', herald: '[]',
});
add('filter/round', '{{ 4.6 | round }} {{ 4.4 | round }}');
add('filter/round places', '{{ 3.14159 | round: 2 }}');
add('filter/round half up', '{{ 2.5 | round }} {{ -2.5 | round }}');
add('filter/round integer', '{{ 7 | round }}');
add('filter/math chain', '{{ event.properties.total | times: 0.9 | round: 2 }}');
add('filter/plus on missing', '{{ customer.missing | plus: 1 }}', {
  differs: 'nil counts as 0 in arithmetic (Shopify); liquidjs gives NaN', herald: '1',
});
add('filter/plus on text', "{{ 'abc' | plus: 1 }}", {
  differs: 'text that is not a number counts as 0 (Shopify); liquidjs gives NaN', herald: '1',
});

// ---- escape / url_encode / json / raw
add('filter/escape', '{{ customer.html | escape }}');
add('filter/escape quote', "{{ \"it's\" | escape }}");
add('filter/url_encode', "{{ 'a b&c=d/é?' | url_encode }}");
add('filter/url_encode safe chars', "{{ \"-_.!~*'()\" | url_encode }}");
add('filter/url_encode in link', '{{ event.properties.cart_url | url_encode }}');
add('filter/json object', '{{ data.obj | json }}');
add('filter/json array', '{{ data.mixed | json }}');
add('filter/json string', '{{ customer.html | json }}');
add('filter/json number', '{{ data.float | json }} {{ customer.score | json }}');
add('filter/json nested', '{{ data.nested | json }}');
add('filter/json indented', '{{ data.obj | json: 2 }}');
add('filter/json unicode and controls', "{{ 'é\t\"x\"' | json }}");
add('filter/raw outside html', '{{ customer.html | raw }}');

// ---- date (the default time zone is UTC when the customer has none)
add('date/strftime basics', "{{ event.timestamp | date: '%Y-%m-%d %H:%M:%S' }}");
add('date/names', "{{ event.timestamp | date: '%a %A %b %B' }}");
add('date/padding flags', "{{ '2024-03-05T04:07:09Z' | date: '%-d %e %-m %-H %-I %l %k %_m %^a' }}");
add('date/am pm', "{{ event.timestamp | date: '%I:%M %p %P' }}");
add('date/day of year and week', "{{ event.timestamp | date: '%j %u %w %U %W' }}");
add('date/year forms', "{{ event.timestamp | date: '%y %C %Y' }}");
add('date/epoch seconds', "{{ data.epoch | date: '%Y-%m-%d %H:%M' }}");
add('date/epoch string', "{{ '1700000000' | date: '%s' }}");
add('date/%s', "{{ event.timestamp | date: '%s' }}");
add('date/offset input', "{{ '2024-03-05T23:30:00+02:00' | date: '%d %H:%M' }}");
add('date/date only', "{{ '2024-12-25' | date: '%b %-d, %Y' }}");
add('date/zone', "{{ event.timestamp | date: '%z %Z %:z' }}");
add('date/milliseconds', "{{ '2024-03-05T14:07:09.250Z' | date: '%L' }}");
add('date/locale forms', "{{ event.timestamp | date: '%c|%x|%X' }}");
add('date/ordinal', "{{ '2024-03-01' | date: '%-d%q' }} {{ '2024-03-22' | date: '%-d%q' }} {{ '2024-03-13' | date: '%-d%q' }}");
add('date/literal percent and unknown', "{{ event.timestamp | date: '100%% %Q' }}");
add('date/default format', '{{ event.timestamp | date }}');
add('date/invalid input passes through', "{{ 'not a date' | date: '%Y' }}");
add('date/missing input', "[{{ customer.missing | date: '%Y' }}]");
add('date/%F and %T', "{{ event.timestamp | date: '%F %T' }}", {
  differs: 'Herald adds strftime %F and %T, which liquidjs prints literally', herald: '2024-03-05 14:07:09',
});
add('date/customer time zone', "{{ event.timestamp | date: '%H:%M %Z' }}", {
  context: 'paris', differs: "formats in customer.timezone (liquidjs uses the process's zone)", herald: '15:07 CET',
});
add('date/customer time zone, summer', "{{ '2024-07-01T12:00:00Z' | date: '%H:%M %z' }}", {
  context: 'paris', differs: "formats in customer.timezone (liquidjs uses the process's zone)", herald: '14:00 +0200',
});
add('date/date-only crosses midnight in the customer zone', "{{ '2024-12-25' | date: '%Y-%m-%d %H:%M' }}", {
  context: 'new_york', differs: "formats in customer.timezone (liquidjs uses the process's zone)", herald: '2024-12-24 19:00',
});

// ---- money (liquidjs has no money filter: these are checked against Intl.NumberFormat('en-US'))
const money = (name, amount, currency, herald) =>
  add(`money/${name}`, `{{ ${JSON.stringify(amount)} | money: '${currency}' }}`, {
    differs: 'money is a Herald filter (liquidjs has none); checked against Intl.NumberFormat en-US',
    herald, intl: [amount, currency],
  });
money('USD', 12.5, 'USD', '$12.50');
money('EUR', 9.99, 'EUR', '€9.99');
money('GBP thousands', 1234567.891, 'GBP', '£1,234,567.89');
money('JPY has no decimals', 1250, 'JPY', '¥1,250');
money('JPY rounds', 1250.6, 'JPY', '¥1,251');
money('KWD has three decimals', 12.5, 'KWD', 'KWD 12.500');
money('BHD', 0.125, 'BHD', 'BHD 0.125');
money('CAD', 20, 'CAD', 'CA$20.00');
money('CHF is a code', 49.9, 'CHF', 'CHF 49.90');
money('negative', -5.25, 'USD', '-$5.25');
money('half rounds away from zero', 1.005, 'USD', '$1.01');
money('zero', 0, 'EUR', '€0.00');
money('KRW', 15000, 'KRW', '₩15,000');
money('INR', 999.5, 'INR', '₹999.50');
add('money/from context with currency variable', '{{ event.properties.total | money: event.properties.currency }}', {
  differs: 'money is a Herald filter (liquidjs has none)', herald: '€1,234.50',
});
add('money/string amount', "{{ '19.9' | money: 'usd' }}", {
  differs: 'money is a Herald filter (liquidjs has none)', herald: '$19.90',
});
add('money/without currency', '{{ 7 | money }}', {
  differs: 'money is a Herald filter (liquidjs has none)', herald: '7.00',
});
// liquidjs ignores the unknown filter, which happens to give Herald's output.
add('money/not a number passes through', "{{ 'free' | money: 'USD' }}");

// ---- email.html: every output escaped unless its last filter is raw (liquidjs's outputEscape: 'escape')
const html = (name, template) => add(`html/${name}`, template, { html: true });
html('escapes output', '<p>{{ customer.html }}</p>');
html('raw skips escaping', '<p>{{ customer.html | raw }}</p>');
html('raw must be last', '<p>{{ customer.html | raw | upcase }}</p>');
html('escape then auto-escape', '{{ customer.html | escape }}');
html('text is not escaped', '<a href="{{ event.properties.cart_url }}">Cart & more</a>');
html('numbers and missing', '{{ customer.score }}[{{ customer.missing }}]');
html('capture is escaped again when output', '{% capture b %}{{ customer.html }}{% endcapture %}{{ b }}');
html('assign keeps the raw value', '{% assign h = customer.html %}{{ h | raw }}');
html('loop', '<ul>{% for i in event.properties.items limit: 2 %}<li>{{ i.name }} — {{ i.price }}</li>{% endfor %}</ul>');
add('html/money in a loop', '<ul>{% for i in event.properties.items limit: 2 %}<li>{{ i.name }} — {{ i.price | money: event.properties.currency }}</li>{% endfor %}</ul>', {
  html: true, differs: 'money is a Herald filter (liquidjs has none)', herald: '<ul><li>Socks — €12.50</li><li>Hat — €25.00</li></ul>',
});

contexts.paris = { ...contexts.base, customer: { ...contexts.base.customer, timezone: 'Europe/Paris' } };
contexts.new_york = { ...contexts.base, customer: { ...contexts.base.customer, timezone: 'America/New_York' } };

module.exports = { contexts, cases: c.filter((x) => !x.skip) };
