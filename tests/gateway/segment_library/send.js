// Sends identify and track calls through Segment's analytics-node library, pointed at
// Herald: node send.js HOST_URL WRITE_KEY USER_ID COUNT
const { Analytics } = require('@segment/analytics-node');

const [host, writeKey, userId, count] = process.argv.slice(2);
const analytics = new Analytics({ writeKey, host, path: '/v1/batch', maxEventsInBatch: 10, flushInterval: 100 });
analytics.on('error', (err) => { console.error('segment error', err); process.exitCode = 1; });

analytics.identify({ userId, traits: { email: 'Segment.User@Example.COM', first_name: 'Seg', plan: 'pro' } });
for (let i = 0; i < Number(count); i++) {
  analytics.track({ userId, event: 'order.completed', properties: { total: 10, order_id: `o-${i}` } });
}
analytics.closeAndFlush({ timeout: 10000 }).then(() => console.log('flushed'));
