#pragma once
// Where processed events go next: the workflow engine implements this interface.
//
// The processor calls decide() for every event, in the customer's order, with the
// customer's state after that event. What the sink writes (runs started, timers set)
// joins the same MULTI/EXEC that stores the customer and acknowledges the event, so a
// decision is made exactly once: a crash before EXEC redoes it, a crash after keeps it.

#include <string>
#include <vector>

#include "gateway/customer_state.hpp"
#include "gateway/ingest/event.hpp"

namespace herald::gateway {

using Commands = std::vector<std::vector<std::string>>;

class EventSink {
 public:
  virtual ~EventSink() = default;
  /// Called on a worker thread; must not block. Appends its writes to `tx`.
  virtual void decide(const std::string& customer_id, const CustomerState& customer,
                      const ingest::Event& event, Commands& tx) = 0;
};

}  // namespace herald::gateway
