// The agents' console: sign in with an agent token (kept in sessionStorage), the queue
// (escalated, assigned, open) kept live by the WebSocket stream, a conversation with the
// customer's context, claim, release, reply (text inside the channel's care window, a
// template outside it) and resolve. Everything goes through the agents' API.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = 'herald.agent_token';
  const STATUSES = ['escalated', 'assigned', 'open'];
  const WINDOW_HOURS = { whatsapp: 24, social: 24, wechat: 48 };
  let token = sessionStorage.getItem(KEY);
  let tab = 'escalated';
  const lists = { escalated: new Map(), assigned: new Map(), open: new Map() };
  let current = null;   // the id of the conversation shown
  let shown = null;     // its last loaded state
  let socket = null;
  let retries = 0;

  async function api(method, path, body) {
    const headers = { Authorization: 'Bearer ' + token };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = new Error(data && data.error ? data.error.message : res.statusText);
      err.status = res.status;
      err.code = data && data.error ? data.error.code : '';
      throw err;
    }
    return data;
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function when(at) {
    if (!at) return '';
    const d = new Date(at);
    return isNaN(d) ? at : d.toLocaleString();
  }

  // --- sign in / out -------------------------------------------------------------------
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('login-error').textContent = '';
    token = $('token').value.trim();
    try {
      await api('GET', '/v1/conversations?status=escalated&limit=1');
      sessionStorage.setItem(KEY, token);
      $('token').value = '';
      start();
    } catch (err) {
      token = null;
      $('login-error').textContent = err.status === 401 || err.status === 403
        ? 'That token is not an agent token.' : 'Cannot sign in: ' + err.message;
    }
  });

  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    token = null;
    if (socket) socket.close();
    location.reload();
  });

  function start() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('signout').hidden = false;
    $('live').hidden = false;
    loadLists();
    connect();
  }

  // --- the queue -----------------------------------------------------------------------
  async function loadLists() {
    for (const status of STATUSES) {
      try {
        const page = await api('GET', '/v1/conversations?status=' + status + '&limit=200');
        lists[status].clear();
        for (const c of page.items) lists[status].set(c.id, c);
      } catch (err) {
        if (err.status === 401) return signedOut();
      }
    }
    renderQueue();
  }

  function signedOut() {
    sessionStorage.removeItem(KEY);
    location.reload();
  }

  function upsert(c) {
    for (const status of STATUSES) lists[status].delete(c.id);
    if (lists[c.status]) lists[c.status].set(c.id, c);
  }

  function renderQueue() {
    for (const status of STATUSES)
      document.querySelector('[data-count="' + status + '"]').textContent = '(' + lists[status].size + ')';
    const ul = $('queue');
    ul.replaceChildren();
    const items = [...lists[tab].values()].sort((a, b) => (b.updated_at || '').localeCompare(a.updated_at || ''));
    for (const c of items) {
      const li = el('li');
      const button = el('button');
      button.type = 'button';
      button.dataset.id = c.id;
      button.append(el('span', c.customer_id + ' · ' + c.channel));
      const bits = [];
      if (c.escalation && c.escalation.reason) bits.push(c.escalation.reason);
      if (c.assignee) bits.push('held by ' + c.assignee);
      bits.push(when(c.updated_at));
      button.append(el('small', bits.join(' · ')));
      if (c.id === current) button.setAttribute('aria-current', 'true');
      button.addEventListener('click', () => open(c.id));
      li.append(button);
      ul.append(li);
    }
    $('queue-empty').hidden = items.length > 0;
  }

  for (const t of document.querySelectorAll('[role=tab]')) {
    t.addEventListener('click', () => {
      tab = t.dataset.status;
      for (const other of document.querySelectorAll('[role=tab]'))
        other.setAttribute('aria-selected', String(other === t));
      renderQueue();
    });
  }

  // --- the stream ----------------------------------------------------------------------
  function setLive(on) {
    $('live').textContent = on ? 'Live' : 'Reconnecting…';
    $('live').classList.toggle('on', on);
  }

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(proto + '//' + location.host + '/v1/conversations/stream?access_token=' +
                           encodeURIComponent(token));
    socket.addEventListener('open', () => {
      retries = 0;
      setLive(true);
      loadLists();  // whatever happened while away
    });
    socket.addEventListener('message', (e) => {
      let frame;
      try { frame = JSON.parse(e.data); } catch (err) { return; }
      if (!frame || !frame.conversation) return;
      upsert(frame.conversation);
      renderQueue();
      if (frame.conversation.id === current) open(current, true);
    });
    socket.addEventListener('close', () => {
      setLive(false);
      if (!token) return;
      const wait = Math.min(30000, 500 * 2 ** retries++);
      setTimeout(connect, wait);
    });
  }

  // --- a conversation ------------------------------------------------------------------
  async function open(id, refresh) {
    if (!refresh) $('detail-error').textContent = '';
    current = id;
    let c;
    try {
      c = await api('GET', '/v1/conversations/' + encodeURIComponent(id));
    } catch (err) {
      $('detail-error').textContent = err.message;
      return;
    }
    if (current !== id) return;
    shown = c;
    $('detail').hidden = false;
    const name = c.customer && c.customer.traits && (c.customer.traits.first_name || c.customer.traits.name);
    $('detail-title').textContent = (name ? name + ' (' + c.customer_id + ')' : c.customer_id);
    const holder = c.assignee ? (c.status === 'resolved' ? ' · by ' : ' · held by ') + c.assignee : '';
    $('detail-meta').textContent = c.channel + ' · ' + c.status + holder +
      (c.escalation && c.escalation.reason ? ' · ' + c.escalation.reason : '') +
      (c.escalation && c.escalation.note ? ': ' + c.escalation.note : '');
    $('claim').disabled = c.status === 'assigned' || c.status === 'resolved';
    $('release').disabled = c.status !== 'assigned';
    $('resolve').disabled = c.status === 'resolved';
    $('send').disabled = c.status !== 'assigned';

    const thread = $('thread');
    thread.replaceChildren();
    let lastInbound = null;
    for (const item of c.thread) {
      const li = el('li', null, item.direction);
      const text = item.text || (item.template ? 'Template: ' + item.template : '');
      li.append(el('span', text));
      const bits = [item.direction === 'inbound' ? 'customer' : (item.agent || 'Herald'), when(item.at)];
      if (item.direction === 'outbound') bits.push(item.status || 'unknown');
      li.append(el('small', bits.join(' · ')));
      li.dataset.direction = item.direction;
      if (item.status) li.dataset.status = item.status;
      thread.append(li);
      if (item.direction === 'inbound') lastInbound = item.at;
    }
    thread.scrollTop = thread.scrollHeight;

    pairs($('profile'), c.customer ? c.customer.traits : {});
    const consent = {};
    if (c.customer && c.customer.consent)
      for (const [k, v] of Object.entries(c.customer.consent)) consent[k] = typeof v === 'object' && v ? v.status : v;
    pairs($('consent'), consent);
    const orders = $('orders');
    orders.replaceChildren();
    for (const o of c.recent_orders || []) {
      const p = o.properties || {};
      orders.append(el('li', [p.order_id, p.total !== undefined ? p.total + ' ' + (p.currency || '') : '', when(o.timestamp)].filter(Boolean).join(' · ')));
    }
    if (!orders.children.length) orders.append(el('li', 'None', 'muted'));
    const run = c.run || {};
    pairs($('run'), run.workflow ? { workflow: run.workflow, run: run.run, state: run.active ? run.active.state : 'ended' } : {});

    const hours = WINDOW_HOURS[c.channel];
    const openWindow = !hours || (lastInbound && Date.now() - new Date(lastInbound).getTime() < hours * 3600e3);
    const w = $('window');
    w.textContent = !hours ? 'No care window on ' + c.channel + '.'
      : openWindow ? 'The ' + c.channel + ' window is open: free text goes.'
      : 'The ' + c.channel + ' window is closed: send a template.';
    w.className = 'window ' + (openWindow ? 'open' : 'closed');
    $('text-reply').hidden = !openWindow;
    $('template-reply').hidden = openWindow;
    if (!openWindow && !refresh) loadTemplates(id);
    renderQueue();
  }

  function pairs(dl, object) {
    dl.replaceChildren();
    const entries = Object.entries(object || {});
    if (!entries.length) dl.append(el('dt', 'None'), el('dd', ''));
    for (const [k, v] of entries) dl.append(el('dt', k), el('dd', typeof v === 'object' ? JSON.stringify(v) : v));
  }

  async function loadTemplates(id) {
    const select = $('reply-template');
    select.replaceChildren();
    try {
      const page = await api('GET', '/v1/conversations/' + encodeURIComponent(id) + '/templates');
      for (const t of page.items) {
        const option = el('option', t.name);
        option.value = t.name;
        select.append(option);
      }
    } catch (err) {
      $('detail-error').textContent = err.message;
    }
  }

  async function act(action) {
    $('detail-error').textContent = '';
    try {
      const c = await api('POST', '/v1/conversations/' + encodeURIComponent(current) + '/' + action);
      upsert(c);
      await open(current, true);
    } catch (err) {
      $('detail-error').textContent = err.message;
    }
  }
  $('claim').addEventListener('click', () => act('claim'));
  $('release').addEventListener('click', () => act('release'));
  $('resolve').addEventListener('click', () => act('resolve'));

  $('reply-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('detail-error').textContent = '';
    const body = $('template-reply').hidden
      ? { text: $('reply-text').value.trim() }
      : { template: $('reply-template').value, data: {} };
    if (body.text === '' || body.template === '') return;
    try {
      await api('POST', '/v1/conversations/' + encodeURIComponent(current) + '/reply', body);
      $('reply-text').value = '';
      await open(current, true);
      setTimeout(() => current && open(current, true), 1500);  // the message's status moves on
    } catch (err) {
      $('detail-error').textContent = err.message;
      if (err.code === 'window_closed') {
        $('text-reply').hidden = true;
        $('template-reply').hidden = false;
        loadTemplates(current);
      }
    }
  });

  if (token) start();
})();
