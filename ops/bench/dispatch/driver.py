#!/usr/bin/env python3
"""Drives the dispatch benchmark against Redis with a small RESP client (standard library).

  prepare  PORT CHANNEL PROVIDER N CUSTOMERS   writes N queued messages (and their customers)
  trigger  PORT CHANNEL N CUSTOMERS            queues them all for delivery; prints the time
  paced    PORT CHANNEL N CUSTOMERS RATE       queues them at RATE a second; prints each time
  latency  PORT CHANNEL CUSTOMERS TIMES_FILE   enqueue -> `sent` (from the timelines): p50 p99 max ms

Message hashes are laid out as gateway/messages.hpp describes; the content is what the
template renderer produces for the channel.
"""
import json
import os
import socket
import sys
import time
from datetime import datetime


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", int(port)))
        self.buf = b""

    def _encode(self, args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        return b"".join(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 20)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return int(rest) if kind == b":" else rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 20)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("bad reply")

    def pipeline(self, commands):
        self.sock.sendall(b"".join(self._encode(c) for c in commands))
        return [self._reply() for _ in commands]


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # ops/bench
from herald_keys import tag  # noqa: E402  (the key layout of gateway/keys.hpp)


def ids(channel, n):
    return [f"bench-{channel}-{i}" for i in range(n)]


def customer_of(i, customers):
    return f"bc{i % customers}"


def content(channel, i):
    if channel == "sms":
        return {"body": f"Your order {i} has shipped: https://shop.example/o/{i}", "segments": 1,
                "encoding": "GSM-7"}
    if channel == "whatsapp":
        return {"text": f"Your order {i} has shipped: https://shop.example/o/{i}"}
    return {"subject": f"Order {i} shipped", "html": f"<p>Your order {i} has shipped.</p>",
            "text": f"Your order {i} has shipped."}


def prepare(port, channel, provider, n, customers):
    r = Redis(port)
    n, customers = int(n), int(customers)
    batch = []
    for c in range(customers):
        traits = {"phone": f"+1415555{c:04d}", "email": f"bench{c}@example.com", "first_name": "Bench"}
        batch.append(["HSET", f"herald:c:{tag(f'bc{c}')}", "t", json.dumps(traits),
                      "ca", "2026-01-01T00:00:00.000Z"])
    r.pipeline(batch)
    now = datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for start in range(0, n, 5000):
        batch = []
        for i in range(start, min(n, start + 5000)):
            mid = f"bench-{channel}-{i}"
            cust = customer_of(i, customers)
            timeline = json.dumps([{"status": "queued", "at": now}])
            origin = json.dumps({"id": mid, "customer_id": cust, "template": "bench",
                                 "created_at": now}, separators=(",", ":"))
            batch.append(["HSET", f"herald:msg:{tag(cust)}:{mid}", "o", origin,
                          "channel", channel, "provider", provider,
                          "status", "queued", "content", json.dumps(content(channel, i)),
                          "timeline", timeline, "attempts", "0", "fallback", "[]",
                          "transactional", "1"])
            batch.append(["SET", f"herald:mi:{mid}", cust])
        r.pipeline(batch)


def entries(channel, n, customers):
    return [["XADD", "herald:deliveries", "*", "id", mid, "customer", customer_of(i, customers)]
            for i, mid in enumerate(ids(channel, n))]


def trigger(port, channel, n, customers):
    r = Redis(port)
    started = time.time()
    cmds = entries(channel, int(n), int(customers))
    for start in range(0, len(cmds), 10000):
        r.pipeline(cmds[start:start + 10000])
    print(f"{started:.6f}")


def paced(port, channel, n, customers, rate):
    r = Redis(port)
    cmds = entries(channel, int(n), int(customers))
    interval = 1.0 / float(rate)
    start = time.time()
    for k, cmd in enumerate(cmds):
        due = start + k * interval
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)  # not a busy wait: the driver shares the cores with Herald
        at = time.time()
        r.pipeline([cmd])
        print(f"{cmd[4]} {at:.6f}")



def latency(port, channel, customers, times_file):
    r = Redis(port)
    sent = {}
    with open(times_file) as f:
        queued = dict((line.split()[0], float(line.split()[1])) for line in f if line.strip())
    lat = []
    names = list(queued)
    for start in range(0, len(names), 5000):
        chunk = names[start:start + 5000]
        cmds = [["HGET", f"herald:msg:{tag(customer_of(int(m.rsplit('-', 1)[1]), int(customers)))}:{m}",
                 "timeline"] for m in chunk]
        for m, tl in zip(chunk, r.pipeline(cmds)):
            for e in json.loads(tl or "[]"):
                if e["status"] == "sent":
                    at = datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%S.%fZ")
                    epoch = (at - datetime(1970, 1, 1)).total_seconds()
                    lat.append((epoch - queued[m]) * 1000.0)
    lat.sort()
    if not lat:
        print("0 0 0 0")
        return
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(f"{pick(0.5):.2f} {pick(0.99):.2f} {lat[-1]:.2f} {len(lat)}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"prepare": prepare, "trigger": trigger, "paced": paced, "latency": latency}[cmd](*args)
