#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/ingest/timestamp.hpp"

namespace herald::ingest {

enum class EventType { kTrack, kIdentify };

std::string_view to_string(EventType type);

/// One validated, normalised event, ready to append to an event stream. JSON members are kept as
/// minified JSON text.
struct Event {
  EventType type = EventType::kTrack;
  std::string user_id;       // never empty; a numeric userId in its string form
  std::string event;         // track: the event name; identify: empty
  std::string properties;    // track: a JSON object ("{}" when absent); identify: empty
  std::string traits;        // JSON object of normalised traits to merge ("{}" when none): identify
                             // `traits` over `context.traits`; track `context.traits`
  std::string context;       // JSON object as sent ("{}" when absent)
  std::string integrations;  // JSON object as sent ("{}" when absent)
  std::string message_id;    // empty when absent
  std::string anonymous_id;  // empty when absent
  Timestamp timestamp{};     // UTC; the time of receipt when absent
  Timestamp received_at{};
  std::optional<Timestamp> sent_at;
  std::optional<Timestamp> original_timestamp;

  friend bool operator==(const Event&, const Event&) = default;
};

using StreamFields = std::vector<std::pair<std::string, std::string>>;

/// The field/value pairs of a stream entry (XADD). Absent optional members are left out; times
/// are RFC 3339 UTC with milliseconds.
StreamFields to_stream_fields(const Event& event);

/// The inverse of to_stream_fields; nullopt when a required field is missing or malformed.
std::optional<Event> from_stream_fields(const StreamFields& fields);

}  // namespace herald::ingest
