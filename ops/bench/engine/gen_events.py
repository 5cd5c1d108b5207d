#!/usr/bin/env python3
"""Writes, as Redis protocol for `redis-cli --pipe`, the stream entries that ingest would
append for CUSTOMERS customers with EVENTS track events each (the first one carrying the
customer's traits), spread over PARTITIONS partitions the way Herald spreads them (FNV-1a
of the customer id), plus each partition's backlog counter. Half the events are
`page.viewed` (no workflow triggers on it), half `ev.K` with K uniform in [0, EVENT_NAMES);
properties.total is uniform in 1..200. A customer's events are a minute apart, the last one
about a minute before now.

    gen_events.py CUSTOMERS EVENTS PARTITIONS EVENT_NAMES RUN_ID | redis-cli --pipe
"""
import json
import random
import sys
import time


def fnv1a(text):
    h = 1469598103934665603
    for c in text.encode():
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def packed(fields):
    """An event as ingest packs it into its stream entry's one field `e` (see
    gateway/ingest/event.hpp, pack_event): "1", then each member as LENGTH ":" BYTES."""
    out = [b"1"]
    for f in fields:
        b = f.encode()
        out.append(b"%d:%s" % (len(b), b))
    return b"".join(out)


def main():
    customers, events, partitions, names = (int(x) for x in sys.argv[1:5])
    run_id = sys.argv[5]
    rng = random.Random(42)
    now = time.time()
    # A customer's events a minute apart, the last one about a minute ago, as a live
    # site sends them: each event moves the customer's updated_at.
    start_ms = int(now * 1000) - events * 60000
    compact = {"separators": (",", ":")}  # as ingest minifies JSON
    backlog = [0] * partitions
    out = sys.stdout.buffer
    chunk = []
    for k in range(events):
        for i in range(customers):
            user = "%s-%d" % (run_id, i)
            p = fnv1a(user) % partitions
            traits = "{}"
            if k == 0:
                traits = json.dumps({"email": "%s@example.com" % user, "first_name": "C%d" % i,
                                     "plan": rng.choice(["free", "pro", "team"])}, **compact)
            name = "page.viewed" if rng.random() < 0.5 else "ev.%d" % rng.randrange(names)
            props = json.dumps({"total": rng.randint(1, 200), "sku": "sku-%d" % rng.randint(1, 50)},
                               **compact)
            # type, user_id, event, properties, traits, context, integrations, timestamp,
            # received_at, message_id, anonymous_id, sent_at, original_timestamp
            stamp = str(start_ms + k * 60000 + i % 1000)
            entry = packed(["track", user, name, props, traits, "{}", "{}", stamp, stamp,
                            "", "", "", ""])
            chunk.append(resp(["XADD", "herald:ev:{p%d}" % p, "*", "e", entry]))
            backlog[p] += 1
            if len(chunk) >= 10000:
                out.write(b"".join(chunk))
                chunk = []
    out.write(b"".join(chunk))
    for p, n in enumerate(backlog):
        out.write(resp(["INCRBY", "herald:bl:{p%d}" % p, n]))
    out.flush()


if __name__ == "__main__":
    main()
