#include "gateway/ingest/event.hpp"

namespace herald::ingest {

std::string_view to_string(EventType type) {
  return type == EventType::kTrack ? "track" : "identify";
}

StreamFields to_stream_fields(const Event& event) {
  StreamFields fields;
  fields.reserve(13);
  fields.emplace_back("type", to_string(event.type));
  fields.emplace_back("user_id", event.user_id);
  if (event.type == EventType::kTrack) {
    fields.emplace_back("event", event.event);
    fields.emplace_back("properties", event.properties);
  }
  fields.emplace_back("traits", event.traits);
  fields.emplace_back("context", event.context);
  fields.emplace_back("integrations", event.integrations);
  fields.emplace_back("timestamp", format_rfc3339(event.timestamp));
  fields.emplace_back("received_at", format_rfc3339(event.received_at));
  if (!event.message_id.empty()) fields.emplace_back("message_id", event.message_id);
  if (!event.anonymous_id.empty()) fields.emplace_back("anonymous_id", event.anonymous_id);
  if (event.sent_at) fields.emplace_back("sent_at", format_rfc3339(*event.sent_at));
  if (event.original_timestamp) {
    fields.emplace_back("original_timestamp", format_rfc3339(*event.original_timestamp));
  }
  return fields;
}

std::optional<Event> from_stream_fields(const StreamFields& fields) {
  Event event;
  bool has_type = false, has_timestamp = false, has_received = false;
  for (const auto& [name, value] : fields) {
    if (name == "type") {
      if (value == "track") {
        event.type = EventType::kTrack;
      } else if (value == "identify") {
        event.type = EventType::kIdentify;
      } else {
        return std::nullopt;
      }
      has_type = true;
    } else if (name == "user_id") {
      event.user_id = value;
    } else if (name == "event") {
      event.event = value;
    } else if (name == "properties") {
      event.properties = value;
    } else if (name == "traits") {
      event.traits = value;
    } else if (name == "context") {
      event.context = value;
    } else if (name == "integrations") {
      event.integrations = value;
    } else if (name == "message_id") {
      event.message_id = value;
    } else if (name == "anonymous_id") {
      event.anonymous_id = value;
    } else if (name == "timestamp" || name == "received_at" || name == "sent_at" ||
               name == "original_timestamp") {
      const auto time = parse_rfc3339(value);
      if (!time) return std::nullopt;
      if (name == "timestamp") {
        event.timestamp = *time;
        has_timestamp = true;
      } else if (name == "received_at") {
        event.received_at = *time;
        has_received = true;
      } else if (name == "sent_at") {
        event.sent_at = *time;
      } else {
        event.original_timestamp = *time;
      }
    }
  }
  if (!has_type || !has_timestamp || !has_received || event.user_id.empty()) return std::nullopt;
  if (event.type == EventType::kTrack && event.event.empty()) return std::nullopt;
  return event;
}

}  // namespace herald::ingest
