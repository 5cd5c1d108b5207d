"""Herald's Redis key layout (gateway/keys.hpp), for the benchmark drivers that seed data."""

PARTITIONS = 16  # redis.partitions of the benchmarks' configs


def fnv1a(text):
    h = 1469598103934665603
    for b in text.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def tag(customer, partitions=PARTITIONS):
    """The hash tag of a customer's keys: their partition's, then the escaped id."""
    escaped = customer.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")
    return "{p%d}{%s}" % (fnv1a(customer) % partitions, escaped)
