#pragma once
// Redis key layout. Every key of one customer and every key of one event partition carry
// the partition's hash tag, so that per-customer and per-partition updates are atomic on
// one node, on a single Redis or a Redis Cluster.

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::keys {

/// An id between braces, with `{` `}` and `%` escaped so that an id can never end the
/// braces early or collide with another id; appended to `out`.
inline void append_id_tag(std::string& out, std::string_view id) {
  out += '{';
  if (id.find_first_of("{}%") == std::string_view::npos) {
    out.append(id);
  } else {
    for (char c : id) {
      if (c == '{') out += "%7B";
      else if (c == '}') out += "%7D";
      else if (c == '%') out += "%25";
      else out += c;
    }
  }
  out += '}';
}
inline std::string id_tag(std::string_view id) {
  std::string out;
  out.reserve(id.size() + 2);
  append_id_tag(out, id);
  return out;
}

/// FNV-1a (64 bits): stable across processes and versions, for partitions and
/// deterministic ids.
inline uint64_t fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

/// The partition of a customer's events.
inline unsigned partition_of(std::string_view customer_id, unsigned partitions) {
  return static_cast<unsigned>(fnv1a(customer_id) % partitions);
}

inline std::string partition_tag(unsigned p) { return "{p" + std::to_string(p) + "}"; }

namespace detail {
inline std::atomic<unsigned> partitions{16};
}
/// redis.partitions, set once at start-up, before any key is built.
inline void set_partitions(unsigned n) { detail::partitions.store(n, std::memory_order_relaxed); }
inline unsigned partitions() { return detail::partitions.load(std::memory_order_relaxed); }

/// PREFIX, the customer's tag (below), SUFFIX: a customer's key, built in one allocation
/// (the processor builds several per event).
inline std::string customer_key(std::string_view prefix, std::string_view customer_id,
                                std::string_view suffix = {}) {
  std::string out;
  out.reserve(prefix.size() + customer_id.size() + suffix.size() + 32);
  out.append(prefix);
  out.append("{p");
  out.append(std::to_string(partition_of(customer_id, partitions())));
  out += '}';
  append_id_tag(out, customer_id);
  out.append(suffix);
  return out;
}
/// The hash tag of every key of a customer: their partition's, followed by the id. A
/// customer's state, their partition's event stream and timers, and their segment
/// memberships share one Redis Cluster slot, so that one transaction processes an event
/// and removes it from its stream on any Redis.
inline std::string tag(std::string_view customer_id) { return customer_key({}, customer_id); }
/// The event stream of a partition.
inline std::string stream(unsigned p) { return "herald:ev:" + partition_tag(p); }
/// Pending (appended, not yet processed) events of a partition.
inline std::string backlog(unsigned p) { return "herald:bl:" + partition_tag(p); }
/// Prefix of the messageId keys of a partition (deduplication window).
inline std::string dedupe_prefix(unsigned p) { return "herald:dd:" + partition_tag(p) + ":"; }
/// Which consumer owns a partition, with an expiry (lease).
inline std::string lease(unsigned p) { return "herald:lease:" + partition_tag(p); }
/// Timers of a partition: an index of its buckets scored by their earliest due time (ms),
/// each bucket a sorted set of timers scored by due time, and a count of pending timers.
inline std::string timer_index(unsigned p) { return "herald:tm:" + partition_tag(p); }
inline std::string timer_bucket(unsigned p, unsigned bucket) {
  return "herald:tm:" + partition_tag(p) + ":" + std::to_string(bucket);
}
inline std::string timer_count(unsigned p) { return "herald:tmn:" + partition_tag(p); }
/// Live consumers, scored by their last heartbeat (ms).
inline const std::string kConsumers = "herald:consumers";
/// The consumer group earlier gateways read the event streams with, removed by whoever
/// takes a partition: a partition's owner reads its stream from the start.
inline const std::string kOldGroup = "herald";

/// The customer's profile: a hash with traits, stats, consent, created_at, updated_at.
inline std::string customer(std::string_view id) { return customer_key("herald:c:", id); }
/// The customer's recent events, newest first (bounded).
inline std::string customer_events(std::string_view id) {
  return customer_key("herald:c:", id, ":ev");
}
/// The customer's consent log, oldest first.
inline std::string consent_log(std::string_view id) { return customer_key("herald:c:", id, ":cl"); }
/// The customer's messages, newest first: JSON {"id", "channel", "workflow", "run"} each
/// (earlier versions wrote the whole message as queued); the rest is in its hash.
inline std::string customer_messages(std::string_view id) {
  return customer_key("herald:c:", id, ":msg");
}
/// Which customer has this address on this channel.
inline std::string address(std::string_view channel, std::string_view address) {
  return "herald:addr:" + std::string(channel) + ":" + id_tag(address);
}
/// Hashed identifiers of erased customers (global suppression).
inline const std::string kSuppressed = "herald:suppressed";

}  // namespace herald::keys
