#!/usr/bin/python3
"""The conversations benchmark's driver (ops/bench/conversations.sh).

  seed REDIS_PORT N PREFIX          N escalated conversations cvPREFIX1.. written straight
                                    into Redis, in the store's layout (conversations.hpp)
  claims HERALD_PORT N AGENTS       for each conversation, AGENTS agents claim at once over
                                    keep-alive connections; p50/p99 of the claim answers and
                                    a check that exactly one claim per conversation won
  fanout HERALD_PORT SOCKETS N      SOCKETS agents on the stream; N transitions of cvfan1
                                    (claim, release, alternately), one at a time; p50/p99 from
                                    the moment the transition's request was sent to each frame
"""
import asyncio
import json
import os
import subprocess
import sys
import time

import websockets  # Debian's python3-websockets

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # ops/bench
from herald_keys import tag  # noqa: E402  (the key layout of gateway/keys.hpp)


def token(i):
    return "bench-agent-%03d" % i


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def seed(redis_port, n, prefix):
    lua = """
local now = ARGV[2]
for i = 1, tonumber(ARGV[1]) do
  local id = 'cv' .. ARGV[3] .. i
  local c = ARGV[3] .. i
  local t = ARGV[3 + i]
  local h = 'herald:cv:' .. t .. ':' .. id
  redis.call('HSET', h, 'id', id, 'customer_id', c, 'channel', 'sms', 'status', 'escalated',
             'assignee', '', 'escalation', '{"reason":"keyword","keyword":"human"}',
             'created_at', now, 'updated_at', now, 'updated_ms', '0')
  redis.call('SET', 'herald:cvi:' .. id, c)
  redis.call('SET', 'herald:cv:' .. t .. ':open:sms', id)
  redis.call('ZADD', 'herald:cvs:escalated', i, id)
end
return 1
"""
    tags = [tag(prefix + str(i)) for i in range(1, n + 1)]
    subprocess.run(["redis-cli", "-p", str(redis_port), "EVAL", lua, "0", str(n),
                    "2026-01-01T00:00:00.000Z", prefix] + tags, check=True,
                   stdout=subprocess.DEVNULL)


class Http:
    """One keep-alive HTTP/1.1 connection."""

    async def open(self, port):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        return self

    async def post(self, path, bearer):
        self.writer.write(("POST %s HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n"
                           "Content-Length: 0\r\n\r\n" % (path, bearer)).encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await self.reader.readexactly(length)
        return status, body


async def claims(port, n, agents):
    conns = [await Http().open(port) for _ in range(agents)]
    latencies, wins, losses, other = [], 0, 0, 0
    bad = []
    started = time.perf_counter()
    for i in range(1, n + 1):
        path = "/v1/conversations/cvbench%d/claim" % i

        async def one(a):
            t0 = time.perf_counter()
            status, body = await conns[a].post(path, token(a))
            latencies.append(time.perf_counter() - t0)
            return status

        statuses = await asyncio.gather(*(one(a) for a in range(agents)))
        won = statuses.count(200)
        wins += won
        losses += statuses.count(409)
        other += len(statuses) - won - statuses.count(409)
        if won != 1:
            bad.append(i)
    elapsed = time.perf_counter() - started
    for c in conns:
        c.writer.close()
    print("claims: %d conversations x %d agents = %d claims in %.1f s (%.0f/s)"
          % (n, agents, n * agents, elapsed, n * agents / elapsed))
    print("claim latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms"
          % (percentile(latencies, .5) * 1e3, percentile(latencies, .99) * 1e3,
             max(latencies) * 1e3))
    print("winners: %d of %d conversations had exactly one (200: %d, 409: %d, other: %d)"
          % (n - len(bad), n, wins, losses, other))
    return 0 if not bad and other == 0 else 1


async def fanout(port, sockets, n):
    url = "ws://127.0.0.1:%d/v1/conversations/stream" % port
    conns = []
    for i in range(sockets):
        conns.append(await websockets.connect(url + "?access_token=" + token(i % 100),
                                              max_queue=None, ping_interval=None))
    sent = {}        # (type, conversation id) -> when its request went out
    latencies = []
    firsts = {}      # transition -> its first frame's latency
    received = [0]
    expected = sockets * n

    async def listen(ws):
        async for message in ws:
            now = time.perf_counter()
            frame = json.loads(message)
            key = (frame["type"], frame["conversation"]["id"])
            if key in sent:
                latencies.append(now - sent[key])
                firsts.setdefault(sent[key], now - sent[key])
                received[0] += 1

    listeners = [asyncio.create_task(listen(ws)) for ws in conns]
    http = await Http().open(port)
    # One conversation of its own (seeded escalated): claimed, released, claimed, ...
    cid = "cvfan1"
    for i in range(n):
        kind, action = ("claimed", "claim") if i % 2 == 0 else ("released", "release")
        sent[(kind, cid)] = time.perf_counter()
        status, body = await http.post("/v1/conversations/%s/%s" % (cid, action), token(0))
        if status != 200:
            print("transition %s of %s: %d %s" % (action, cid, status, body[:200]))
            return 1
        deadline = time.perf_counter() + 5
        while received[0] < sockets * (i + 1) and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
        await asyncio.sleep(0.01)  # transitions apart, as agents make them
    for t in listeners:
        t.cancel()
    for ws in conns:
        await ws.close()
    print("fan-out: %d transitions to %d sockets, %d of %d frames received"
          % (n, sockets, received[0], expected))
    print("fan-out latency (transition to frame): p50 %.2f ms, p99 %.2f ms, max %.2f ms"
          % (percentile(latencies, .5) * 1e3, percentile(latencies, .99) * 1e3,
             max(latencies) * 1e3))
    first = list(firsts.values())
    print("first frame of each transition: p50 %.2f ms, p99 %.2f ms (the rest is the driver "
          "reading %d sockets in one Python thread)"
          % (percentile(first, .5) * 1e3, percentile(first, .99) * 1e3, sockets))
    return 0 if received[0] == expected else 1


def main():
    mode = sys.argv[1]
    if mode == "seed":
        seed(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
        return 0
    if mode == "claims":
        return asyncio.run(claims(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    if mode == "fanout":
        return asyncio.run(fanout(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
