#!/usr/bin/env python3
"""Identifies COUNT customers with 10 traits each through /v1/batch (100 a request).

Usage: identify_customers.py PORT WRITE_KEY COUNT PREFIX
No messageId, so that the figure is the profile alone and not the dedupe window.
"""
import http.client
import json
import sys

port, key, count, prefix = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
for start in range(0, count, 100):
    batch = []
    for i in range(start, min(start + 100, count)):
        batch.append({
            "type": "identify",
            "userId": f"{prefix}-{i}",
            "traits": {
                "email": f"customer{i}@example.com",
                "first_name": "Ada",
                "last_name": f"Lovelace{i}",
                "timezone": "Europe/London",
                "locale": "en-GB",
                "plan": "pro" if i % 3 else "free",
                "city": "London",
                "country": "GB",
                "company": f"Company {i % 500}",
                "lifetime_value": i % 1000 + 0.5,
            },
        })
    conn.request("POST", "/v1/batch", json.dumps({"batch": batch}), headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        sys.exit(f"identify batch at {start}: {response.status} {body[:300]!r}")
