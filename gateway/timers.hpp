#pragma once
// Durable timers: waits, timeouts, anniversaries and thresholds kept in Redis and fired
// by the owner of the customer's partition (see EventProcessor), in the same order as
// the customer's events and exactly once.
//
// A timer is named by (customer id, timer id); the timer id is chosen by the caller and
// unique within the customer (for instance "workflow|run|step"). Scheduling an existing
// timer moves it (new due time and payload), never duplicates it.
//
// Layout, per partition p: bucket sorted sets `herald:tm:{pN}:B` (score = due time in
// ms, member = customer id \x1f timer id \x1f payload) and an index `herald:tm:{pN}`
// (member = bucket, score = the bucket's earliest due time, or an earlier one). The
// bucket of a timer is a hash of its name; buckets stay small, so Redis keeps them in
// its compact encoding (about 60 bytes a timer rather than 240 for a sorted set plus a
// hash), and finding a timer to move or cancel reads one bucket, never the whole set.
//
// schedule_timer() and cancel_timer() return commands for the caller's own MULTI/EXEC.
// They are meant for the partition's owner (EventSink::decide and ::fire): that is what
// keeps a customer's timers in one order with its events.

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::gateway {

using Commands = std::vector<std::vector<std::string>>;

/// The processor's notion of "now" for timers. Thread safety: now_ms() may be called
/// from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Milliseconds since the Unix epoch.
  virtual int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override;
};

/// A clock that moves only when told to (tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms) : now_(start_ms) {}
  int64_t now_ms() const override { return now_.load(); }
  void set(int64_t ms) { now_.store(ms); }
  void advance(int64_t ms) { now_.fetch_add(ms); }

 private:
  std::atomic<int64_t> now_;
};

/// The process's system clock (the default of EventProcessor).
const Clock& system_clock();

/// A timer that is due, as handed to EventSink::fire.
struct Timer {
  std::string customer_id;
  std::string id;
  std::string payload;
  int64_t due_ms = 0;
};

/// Schedules (or moves) a timer. Customer and timer ids must not contain '\x1f'
/// (std::invalid_argument). The payload is free-form; keep it short.
Commands schedule_timer(std::string_view customer_id, std::string_view timer_id, int64_t due_ms,
                        std::string_view payload, unsigned partitions);

/// Schedules a timer only if no timer of that name exists (whatever its due time).
Commands schedule_timer_if_absent(std::string_view customer_id, std::string_view timer_id,
                                  int64_t due_ms, std::string_view payload,
                                  unsigned partitions);

/// Schedules a timer that the caller knows does not exist (the first wait of a run that
/// has just started, whose id is new): what schedule_timer does, as plain commands (ZADD
/// the bucket, ZADD LT the bucket's index entry, INCRBY the count) rather than a script
/// that first looks for the name in the bucket. Scheduling a name that does exist this
/// way would leave two timers of that name.
Commands schedule_new_timer(std::string_view customer_id, std::string_view timer_id,
                            int64_t due_ms, std::string_view payload, unsigned partitions);

/// Cancels a timer; cancelling one that does not exist is a no-op.
Commands cancel_timer(std::string_view customer_id, std::string_view timer_id, unsigned partitions);

namespace timers {

/// Buckets per partition: about 16,384 in all, whatever the partition count.
unsigned buckets_per_partition(unsigned partitions);
unsigned bucket_of(std::string_view customer_id, std::string_view timer_id, unsigned partitions);
std::string encode_member(std::string_view customer_id, std::string_view timer_id,
                          std::string_view payload);
/// False when the member is not one of ours.
bool decode_member(std::string_view member, Timer& out);

/// Removes fired timers from a bucket, each only if it is still due at the time it was
/// read (a timer moved meanwhile stays), and sets the bucket's index entry to its new
/// earliest due time. `fired` holds (member, score as read) pairs.
std::vector<std::string> remove_fired(
    unsigned partition, unsigned bucket,
    const std::vector<std::pair<std::string, std::string>>& fired);

/// What a command made by schedule_timer, schedule_timer_if_absent, schedule_new_timer
/// (its first command; the others are not described) or cancel_timer does:
/// for a process that runs the engine without Redis (simulate), which keeps its timers
/// itself. nullopt for any other command.
struct TimerCommand {
  enum class Kind { kSchedule, kScheduleIfAbsent, kCancel } kind = Kind::kSchedule;
  Timer timer;  // customer_id and id always; payload and due_ms when scheduling
};
std::optional<TimerCommand> describe_command(const std::vector<std::string>& command);

}  // namespace timers
}  // namespace herald::gateway
