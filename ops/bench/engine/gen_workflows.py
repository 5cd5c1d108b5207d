#!/usr/bin/env python3
"""Writes COUNT benchmark workflows into DIR (and the template they send into TEMPLATES):
workflow N triggers on event `ev.(N mod EVENT_NAMES)` where the event's total is over 100
(half of them) and the customer's plan is set, with an entry cooldown, an exit_when, a
send, a wait, an if and a second send.

    gen_workflows.py DIR TEMPLATES COUNT EVENT_NAMES
"""
import os
import sys


def main():
    directory, templates, count, names = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(directory, exist_ok=True)
    os.makedirs(templates, exist_ok=True)
    with open(os.path.join(templates, "bench.yaml"), "w") as f:
        f.write('template: bench\nemail:\n  subject: "Hello {{ customer.first_name }}"\n'
                '  text: "Your cart of {{ event.properties.total }} ({{ event.properties.sku }})'
                ' is waiting, {{ customer.first_name | default: \'friend\' }}."\n')
    for n in range(count):
        with open(os.path.join(directory, "bench-%03d.yaml" % n), "w") as f:
            f.write(f"""workflow: bench-{n:03d}
trigger:
  event: ev.{n % names}
  where: event.properties.total > 100 and customer.plan != 'none'
entry: {{ cooldown: 1d }}
exit_when:
  - event: ev.{(n + 1) % names}
    where: event.properties.total > 190
steps:
  - id: first
    send: {{ template: bench, channels: [email] }}
  - wait: 1d
  - if: event.properties.total > 100
    then:
      - id: second
        send: {{ template: bench, channels: [email] }}
""")


if __name__ == "__main__":
    main()
