#include "gateway/ingest/event.hpp"

#include <charconv>
#include <chrono>

namespace herald::ingest {

std::string_view to_string(EventType type) {
  return type == EventType::kTrack ? "track" : "identify";
}

namespace {

void append_member(std::string& out, std::string_view value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value.size());
  out.append(digits, end);
  out.push_back(':');
  out.append(value);
}

/// The inverse of to_string(EventType).
std::optional<EventType> type_of(std::string_view text) {
  if (text == "track") return EventType::kTrack;
  if (text == "identify") return EventType::kIdentify;
  return std::nullopt;
}

/// What every stored event has: a user, and a name when it is a track.
bool has_required(const Event& event) {
  return !event.user_id.empty() && (event.type != EventType::kTrack || !event.event.empty());
}

void append_time(std::string& out, std::optional<Timestamp> t) {
  if (!t) {
    append_member(out, {});
    return;
  }
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, t->time_since_epoch().count());
  append_member(out, std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

/// Reads one LENGTH ":" BYTES member from `in`; false when malformed.
bool take_member(std::string_view& in, std::string_view& value) {
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(in.data(), in.data() + in.size(), n);
  if (ec != std::errc() || end == in.data() || end == in.data() + in.size() || *end != ':')
    return false;
  auto start = static_cast<std::size_t>(end - in.data()) + 1;
  if (in.size() - start < n) return false;
  value = in.substr(start, n);
  in.remove_prefix(start + n);
  return true;
}

bool take_time(std::string_view& in, std::optional<Timestamp>& t) {
  std::string_view text;
  if (!take_member(in, text)) return false;
  if (text.empty()) {
    t.reset();
    return true;
  }
  int64_t ms = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  t = Timestamp(std::chrono::milliseconds(ms));
  return true;
}

}  // namespace

std::string pack_event(const Event& event) {
  std::string out;
  out.reserve(96 + event.user_id.size() + event.event.size() + event.properties.size() +
              event.traits.size() + event.context.size() + event.integrations.size() +
              event.message_id.size() + event.anonymous_id.size());
  out.push_back('1');
  append_member(out, to_string(event.type));
  append_member(out, event.user_id);
  append_member(out, event.event);
  append_member(out, event.properties);
  append_member(out, event.traits);
  append_member(out, event.context);
  append_member(out, event.integrations);
  append_time(out, event.timestamp);
  append_time(out, event.received_at);
  append_member(out, event.message_id);
  append_member(out, event.anonymous_id);
  append_time(out, event.sent_at);
  append_time(out, event.original_timestamp);
  return out;
}

std::optional<Event> unpack_event(std::string_view in) {
  if (in.empty() || in.front() != '1') return std::nullopt;
  in.remove_prefix(1);
  Event event;
  std::string_view type, user_id, name, properties, traits, context, integrations, message_id,
      anonymous_id;
  std::optional<Timestamp> timestamp, received_at;
  if (!take_member(in, type) || !take_member(in, user_id) || !take_member(in, name) ||
      !take_member(in, properties) || !take_member(in, traits) || !take_member(in, context) ||
      !take_member(in, integrations) || !take_time(in, timestamp) || !take_time(in, received_at) ||
      !take_member(in, message_id) || !take_member(in, anonymous_id) ||
      !take_time(in, event.sent_at) || !take_time(in, event.original_timestamp) || !in.empty())
    return std::nullopt;
  auto kind = type_of(type);
  if (!kind || !timestamp || !received_at) return std::nullopt;
  event.type = *kind;
  event.user_id = user_id;
  event.event = name;
  event.properties = properties;
  event.traits = traits;
  event.context = context;
  event.integrations = integrations;
  event.message_id = message_id;
  event.anonymous_id = anonymous_id;
  event.timestamp = *timestamp;
  event.received_at = *received_at;
  if (!has_required(event)) return std::nullopt;
  return event;
}

StreamFields to_stream_fields(const Event& event) {
  StreamFields fields;
  fields.emplace_back(kPackedField, pack_event(event));
  return fields;
}

std::optional<Event> from_stream_fields(const StreamFields& fields) {
  if (fields.size() == 1 && fields[0].first == kPackedField) return unpack_event(fields[0].second);
  Event event;
  bool has_type = false, has_timestamp = false, has_received = false;
  for (const auto& [name, value] : fields) {
    if (name == "type") {
      auto kind = type_of(value);
      if (!kind) return std::nullopt;
      event.type = *kind;
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
  if (!has_type || !has_timestamp || !has_received || !has_required(event)) return std::nullopt;
  return event;
}

}  // namespace herald::ingest
