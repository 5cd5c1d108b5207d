#pragma once
// The webhook worker: performs the calls of workflow `webhook` steps (queued by the
// engine on the herald:webhooks stream, consumer group "webhook", shared by every
// worker thread of every gateway) and hands each outcome back to the engine
// (gateway/engine/webhook_step.hpp).
//
// For each request:
//   1. if it is no longer pending, or its run no longer waits on it (the run ended by
//      exit_when meanwhile), nothing is called (→ cancelled);
//   2. the attempt is counted in the request's record, then the call is made with
//      HttpClient: the recorded method, url, headers and body, plus
//      `Idempotency-Key: REQUEST_ID`, within `timeout`;
//   3. a 2xx answer → succeeded; anything else (another status, no answer, a timeout) is
//      tried again after an exponential back-off with full jitter (base_backoff · 2^(n-1),
//      at most max_backoff, a uniform pick in its upper half), up to `attempts` calls in
//      all → then failed;
//   4. the outcome's record, its hand-back to the engine (a timer) and the stream entry's
//      acknowledgement are written in one MULTI/EXEC.
//
// Crash safety: a request whose call was made but whose outcome was not written (a
// crash, Redis gone) stays pending in the stream and is claimed again after
// reclaim_after by any worker, which calls again with the same Idempotency-Key and the
// attempts counted so far: at least once, never lost. A live worker resets the idle time
// of its requests in flight (during calls and back-offs) every reclaim_after / 3, so that
// they are not taken for a dead worker's. On a graceful stop (drain()) the calls in flight
// finish and are recorded; a request waiting for its next attempt is left pending, for
// another gateway (or this one restarted) to claim.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

namespace boost::asio {
class io_context;
}

namespace herald::redis {
class Client;
}

namespace herald::gateway {

class Clock;

struct WebhookOptions {
  std::string consumer;
  unsigned partitions = 16;                  // redis.partitions: where outcome timers go
  unsigned attempts = 5;                     // calls per request, the first included
  std::chrono::milliseconds timeout{10000};  // one call, connect included
  std::chrono::milliseconds base_backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds reclaim_after{10000};
  std::size_t max_in_flight = 256;
};

class WebhookWorker {
 public:
  /// `clock` (null: the system clock) dates the outcomes handed back; it must be the
  /// clock that the event processors fire timers by, and outlive the worker.
  WebhookWorker(boost::asio::io_context& ioc, WebhookOptions options, const Clock* clock = nullptr);
  ~WebhookWorker();

  /// Runs until the io_context stops. `reader` is a connection of its own (it blocks);
  /// `writer` is the worker's shared connection.
  boost::asio::awaitable<void> run(redis::Client& reader, redis::Client& writer);

  /// Requests being handled now (read it on the worker's thread).
  std::size_t in_flight() const;

  /// Graceful stop, from any thread: calls in flight finish and are recorded, nothing new
  /// starts, back-offs end at once; drained() turns true once all is written.
  void drain();
  bool drained() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald::gateway
