#pragma once
// Processing of ingested events. The partitions' streams are shared by every worker
// thread of every gateway; each partition is processed by one consumer at a time (a
// lease renewed every second and lost after 5 s of silence), so that a customer's events
// are applied in order. The customer's new state and the removal of its events from the
// stream are written in one MULTI/EXEC, so a stream holds only what is left to do and a
// crash at any moment neither loses nor repeats an event: whoever owns a partition next
// reads its stream from the start.
//
// The owner of a partition also fires its due timers (gateway/timers.hpp), between reads
// of events: the customer's state, the sink's writes and the timers' removal go in one
// MULTI/EXEC, guarded by a WATCH of the partition's lease, so a timer fires once even
// when a stalled consumer lost its lease to another.

#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "config/config.hpp"

namespace herald::redis {
class Client;
}

namespace herald::gateway {

class EventSink;
class Clock;

class EventProcessor {
 public:
  /// `consumer` names this worker in the group (unique per process and thread). `sink`
  /// (may be null) receives every event with the customer's state after it, and every
  /// timer that is due. `clock` (null: the system clock) says when timers are due; it
  /// must outlive the processor.
  EventProcessor(const config::Config& config, std::string consumer, EventSink* sink = nullptr,
                 const Clock* clock = nullptr);
  ~EventProcessor();

  /// Runs until the io_context stops. `reader` is a connection of its own (it blocks on
  /// XREADGROUP and holds the WATCH of timer firing); `writer` is the worker's shared
  /// connection.
  boost::asio::awaitable<void> run(redis::Client& reader, redis::Client& writer);

  /// Graceful stop, from any thread: after the batch in hand, the partitions' leases are
  /// given back and the consumer leaves the live set; stopped() turns true then.
  void stop();
  bool stopped() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::gateway
