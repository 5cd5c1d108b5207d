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

/// The one field of a stream entry as ingest writes it: the event packed by pack_event().
inline constexpr std::string_view kPackedField = "e";

/// The event as one string: "1" (the format), then each member as LENGTH ":" BYTES, in the
/// order type, user_id, event, properties, traits, context, integrations, timestamp,
/// received_at, message_id, anonymous_id, sent_at, original_timestamp; times as
/// milliseconds since the epoch, absent members empty. One field instead of a field per
/// member: an entry costs Redis two arguments to append (through the ingest script) and
/// two strings to read back instead of twenty of each, and the processor no time parsing.
std::string pack_event(const Event& event);

/// The inverse of pack_event; nullopt when malformed.
std::optional<Event> unpack_event(std::string_view packed);

/// The field/value pairs of a stream entry (XADD): {kPackedField, pack_event(event)}.
StreamFields to_stream_fields(const Event& event);

/// The event of a stream entry: the packed field, or the field per member that earlier
/// versions wrote (type, user_id, event, properties, traits, context, integrations,
/// timestamp, received_at, message_id, anonymous_id, sent_at, original_timestamp; times
/// RFC 3339), which a stream may still hold after an upgrade. nullopt when a required
/// member is missing or malformed.
std::optional<Event> from_stream_fields(const StreamFields& fields);

}  // namespace herald::ingest
