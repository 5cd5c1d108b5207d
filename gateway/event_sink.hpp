#pragma once
// Where processed events go next: the workflow engine implements this interface.
//
// The processor calls decide() for every event, in the customer's order, with the
// customer's state after that event. What the sink writes (runs started, timers set)
// joins the same MULTI/EXEC that stores the customer and removes the event, so a
// decision is made exactly once: a crash before EXEC redoes it, a crash after keeps it.
//
// Timers (gateway/timers.hpp) come back the same way: fire() is called for each timer
// that is due, in one order with the customer's events, and its writes, the customer's
// state and the timer's removal are committed in one MULTI/EXEC: it fires exactly once.

#include <string>
#include <vector>

#include "gateway/customer_state.hpp"
#include "gateway/ingest/event.hpp"
#include "gateway/timers.hpp"

namespace herald::gateway {

class EventSink {
 public:
  virtual ~EventSink() = default;
  /// Called on a worker thread; must not block. Changes to `customer` (runs started,
  /// traits updated) are stored and seen by the customer's next event; writes go to `tx`.
  virtual void decide(const std::string& customer_id, CustomerState& customer,
                      const ingest::Event& event, Commands& tx) = 0;
  /// False when decide() on `event` neither reads nor changes the customer's traits,
  /// consent, runs or entries: the processor then does not load them (see
  /// CustomerState::partial) for an event that brings no traits either. Called on a
  /// worker thread. The default: always needed.
  virtual bool needs_state(const ingest::Event& event) const {
    (void)event;
    return true;
  }
  /// Called on a worker thread for a timer that is due; must not block. Changes to
  /// `customer` are stored; writes go to `tx` (scheduling timers included, the fired one
  /// again too: it is removed before them). The default ignores timers.
  virtual void fire(const Timer& timer, CustomerState& customer, Commands& tx) {
    (void)timer, (void)customer, (void)tx;
  }
};

}  // namespace herald::gateway
