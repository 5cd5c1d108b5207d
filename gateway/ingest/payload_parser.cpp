#include "gateway/ingest/payload_parser.hpp"

#include <simdjson.h>

#include "gateway/ingest/json_dom.hpp"

namespace herald::ingest {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// simdjson counts the document as a level, and a batch puts an object and an array around its
// events; one level more lets an event that is one too deep be reported with its path.
constexpr std::size_t kParserDepth = kMaxJsonDepth + 4;
constexpr std::size_t kInitialCapacity = 64 * 1024;
// A hostile batch should not earn a response much larger than itself.
constexpr std::size_t kMaxProblemsPerItem = 4;

bool is_number(element_type type) {
  return type == element_type::INT64 || type == element_type::UINT64 ||
         type == element_type::DOUBLE;
}

std::string_view json_error_text(simdjson::error_code error) {
  switch (error) {
    case simdjson::EMPTY:
      return "empty body";
    case simdjson::DEPTH_ERROR:
      return "nested deeper than 64 levels";
    case simdjson::NUMBER_ERROR:
      return "a number is malformed or outside the range of a double";
    case simdjson::UTF8_ERROR:
      return "invalid UTF-8";
    case simdjson::STRING_ERROR:
      return "a string has a bad escape or a lone surrogate";
    case simdjson::UNESCAPED_CHARS:
      return "a string holds an unescaped control character";
    case simdjson::UNCLOSED_STRING:
      return "a string is not closed";
    case simdjson::CAPACITY:
      return "document too large";
    default:
      return "not valid JSON";
  }
}

std::string index_path(std::string_view base, std::size_t index) {
  std::string path(base);
  path += '[';
  path += std::to_string(index);
  path += ']';
  return path;
}

}  // namespace

class PayloadParser::Impl {
 public:
  explicit Impl(IngestOptions options);

  IngestRequest parse(Endpoint endpoint, std::string_view body, Timestamp received_at);
  std::optional<std::string> find_write_key(std::string_view body);

  IngestOptions options_;

 private:
  struct BatchDefaults;

  element parse_document(std::string_view body);
  void parse_single(EventType type, element root, Timestamp received_at, IngestRequest& request);
  void parse_batch(element root, Timestamp received_at, IngestRequest& request);
  /// Appends the event to `events`, or its problems to problems_.
  void parse_event(EventType type, object item, std::string_view prefix, Timestamp received_at,
                   const BatchDefaults* defaults, std::vector<Event>& events);
  /// Checks the JSON rules and the size of one item; false (with a problem added) if it breaks
  /// them. Leaves the minified item in scratch_ and its members' spans in spans_.
  bool check_item(object item, std::string_view prefix);
  bool build_traits(const std::optional<object>& top, const std::optional<object>& from_context,
                    std::string_view prefix, std::string& out);
  void add_problem(std::string_view code, std::string field, std::string_view message);
  [[noreturn]] void throw_problems(bool always_details);

  simdjson::dom::parser parser_;
  JsonWalker walker_;
  std::string scratch_;
  std::string widened_;
  std::vector<std::pair<std::size_t, std::size_t>> spans_;
  std::vector<ErrorDetail> problems_;
  std::size_t item_problems_ = 0;
};

struct PayloadParser::Impl::BatchDefaults {
  std::optional<object> context;
  std::string context_text;
  std::optional<object> integrations;
  std::string integrations_text;
  std::optional<Timestamp> sent_at;
};

PayloadParser::Impl::Impl(IngestOptions options) : options_(std::move(options)) {
  if (parser_.allocate(kInitialCapacity, kParserDepth) != simdjson::SUCCESS) {
    throw std::bad_alloc();
  }
}

void PayloadParser::Impl::add_problem(std::string_view code, std::string field,
                                      std::string_view message) {
  if (item_problems_++ >= kMaxProblemsPerItem) return;
  std::string text = field.empty() ? std::string(message) : field + ": " + std::string(message);
  problems_.push_back(ErrorDetail{std::move(field), std::move(text), std::string(code)});
}

void PayloadParser::Impl::throw_problems(bool always_details) {
  std::vector<ErrorDetail> details = std::move(problems_);
  problems_.clear();
  const ErrorDetail& first = details.front();
  std::string message = first.message;
  if (details.size() > 1) {
    message += " (and " + std::to_string(details.size() - 1) + " more problems, see details)";
  }
  ApiError error(400, first.code, std::move(message), first.field);
  if (always_details || details.size() > 1) error.details = std::move(details);
  throw error;
}

element PayloadParser::Impl::parse_document(std::string_view body) {
  auto parsed = parser_.parse(body.data(), body.size(), true);
  if (parsed.error() == simdjson::NUMBER_ERROR) {
    widened_ = widen_big_integers(body);
    if (!widened_.empty()) parsed = parser_.parse(widened_.data(), widened_.size(), true);
  }
  if (parsed.error()) {
    throw ApiError(400, "invalid_json",
                   "invalid JSON: " + std::string(json_error_text(parsed.error())));
  }
  return parsed.value_unsafe();
}

IngestRequest PayloadParser::Impl::parse(Endpoint endpoint, std::string_view body,
                                         Timestamp received_at) {
  problems_.clear();
  const element root = parse_document(body);
  if (root.type() != element_type::OBJECT) {
    throw ApiError(400, "invalid_json", "the body must be a JSON object");
  }
  IngestRequest request;
  const auto write_key = root.get_object().value_unsafe().at_key("writeKey");
  if (!write_key.error()) {
    if (write_key.value_unsafe().type() == element_type::STRING) {
      request.write_key = std::string(write_key.value_unsafe().get_string().value_unsafe());
    } else if (write_key.value_unsafe().type() != element_type::NULL_VALUE) {
      throw ApiError(400, "invalid_event", "writeKey: must be a string", "writeKey");
    }
  }
  switch (endpoint) {
    case Endpoint::kTrack:
      parse_single(EventType::kTrack, root, received_at, request);
      break;
    case Endpoint::kIdentify:
      parse_single(EventType::kIdentify, root, received_at, request);
      break;
    case Endpoint::kBatch:
      parse_batch(root, received_at, request);
      break;
  }
  return request;
}

std::optional<std::string> PayloadParser::Impl::find_write_key(std::string_view body) {
  auto parsed = parser_.parse(body.data(), body.size(), true);
  if (parsed.error() || parsed.value_unsafe().type() != element_type::OBJECT) return std::nullopt;
  const auto key = parsed.value_unsafe().get_object().value_unsafe().at_key("writeKey");
  if (key.error() || key.value_unsafe().type() != element_type::STRING) return std::nullopt;
  return std::string(key.value_unsafe().get_string().value_unsafe());
}

void PayloadParser::Impl::parse_single(EventType type, element root, Timestamp received_at,
                                       IngestRequest& request) {
  item_problems_ = 0;
  parse_event(type, root.get_object().value_unsafe(), "", received_at, nullptr, request.events);
  if (!problems_.empty()) throw_problems(false);
}

void PayloadParser::Impl::parse_batch(element root, Timestamp received_at, IngestRequest& request) {
  const object body = root.get_object().value_unsafe();
  const auto batch = body.at_key("batch");
  if (batch.error() || batch.value_unsafe().type() == element_type::NULL_VALUE) {
    throw ApiError(400, "invalid_event", "batch: required", "batch");
  }
  if (batch.value_unsafe().type() != element_type::ARRAY) {
    throw ApiError(400, "invalid_event", "batch: must be an array", "batch");
  }
  const auto items = batch.value_unsafe().get_array().value_unsafe();
  if (items.size() > options_.max_batch_items) {
    throw ApiError(400, "batch_too_large",
                   "batch: more than " + std::to_string(options_.max_batch_items) + " events",
                   "batch");
  }

  // Segment's batch may carry context, integrations and sentAt for all of its events.
  BatchDefaults defaults;
  for (auto [key, value] : body) {
    const bool is_context = key == "context";
    if (!is_context && key != "integrations" && key != "sentAt") continue;
    const std::string field(key);
    if (value.type() == element_type::NULL_VALUE) continue;
    if (key == "sentAt") {
      const auto text = value.get_string();
      const auto time = text.error() ? std::nullopt : parse_rfc3339(text.value_unsafe());
      if (!time) throw ApiError(400, "invalid_event", field + ": must be an RFC 3339 time", field);
      defaults.sent_at = time;
      continue;
    }
    if (value.type() != element_type::OBJECT) {
      throw ApiError(400, "invalid_event", field + ": must be an object", field);
    }
    std::string& text = is_context ? defaults.context_text : defaults.integrations_text;
    if (!walker_.write(value, text, 1)) {
      const std::string path = join_path(field, walker_.problem_path());
      throw ApiError(400, "invalid_json", path + ": " + walker_.problem_message(), path);
    }
    (is_context ? defaults.context : defaults.integrations) = value.get_object().value_unsafe();
  }

  request.events.reserve(items.size());
  std::size_t index = 0;
  for (const element item : items) {
    item_problems_ = 0;
    const std::string prefix = index_path("batch", index++);
    if (item.type() != element_type::OBJECT) {
      add_problem("invalid_event", prefix, "must be an object");
      continue;
    }
    const object fields = item.get_object().value_unsafe();
    const auto type = fields.at_key("type");
    const std::string type_field = prefix + ".type";
    if (type.error() || type.value_unsafe().type() != element_type::STRING) {
      add_problem("invalid_event", type_field, type.error() ? "required" : "must be a string");
      continue;
    }
    const std::string_view name = type.value_unsafe().get_string().value_unsafe();
    if (name == "track") {
      parse_event(EventType::kTrack, fields, prefix, received_at, &defaults, request.events);
    } else if (name == "identify") {
      parse_event(EventType::kIdentify, fields, prefix, received_at, &defaults, request.events);
    } else if (name == "page" || name == "screen" || name == "group" || name == "alias") {
      if (check_item(fields, prefix)) ++request.ignored;
    } else {
      add_problem("invalid_event", type_field,
                  "must be \"track\" or \"identify\" (page, screen, group and alias are "
                  "accepted and ignored)");
    }
  }
  if (!problems_.empty()) throw_problems(true);
}

bool PayloadParser::Impl::check_item(object item, std::string_view prefix) {
  scratch_.clear();
  if (!walker_.write_members(item, scratch_, spans_)) {
    const std::string path = join_path(prefix, walker_.problem_path());
    add_problem("invalid_json", path, walker_.problem_message());
    return false;
  }
  if (scratch_.size() > options_.max_event_bytes) {
    add_problem("event_too_large", std::string(prefix),
                "the event is " + std::to_string(scratch_.size()) + " bytes, more than " +
                    std::to_string(options_.max_event_bytes));
    return false;
  }
  return true;
}

void PayloadParser::Impl::parse_event(EventType type, object item, std::string_view prefix,
                                      Timestamp received_at, const BatchDefaults* defaults,
                                      std::vector<Event>& events) {
  if (!check_item(item, prefix)) return;
  const std::size_t problems_before = problems_.size();
  const auto field = [&](std::string_view name) { return join_path(prefix, name); };

  Event event;
  event.type = type;
  event.received_at = received_at;
  event.timestamp = received_at;
  bool user_id_bad = false, event_bad = false;
  std::optional<object> traits, context, integrations;
  std::string_view properties_text, context_text, integrations_text;

  std::size_t index = 0;
  for (auto [key, value] : item) {
    const auto [offset, length] = spans_[index++];
    const std::string_view text(scratch_.data() + offset, length);
    const element_type kind = value.type();
    if (kind == element_type::NULL_VALUE) continue;  // null is as good as absent
    const auto object_member = [&](std::optional<object>& target, std::string_view& target_text) {
      if (kind == element_type::OBJECT) {
        target = value.get_object().value_unsafe();
        target_text = text;
      } else {
        add_problem("invalid_event", field(key), "must be an object");
      }
    };
    const auto time_member = [&]() -> std::optional<Timestamp> {
      const auto time = kind == element_type::STRING
                            ? parse_rfc3339(value.get_string().value_unsafe())
                            : std::nullopt;
      if (!time) add_problem("invalid_event", field(key), "must be an RFC 3339 time");
      return time;
    };
    if (key == "userId" || key == "anonymousId") {
      std::string& target = key == "userId" ? event.user_id : event.anonymous_id;
      if (kind == element_type::STRING) {
        target = value.get_string().value_unsafe();
      } else if (is_number(kind)) {
        target = number_to_string(value);
      } else {
        add_problem("invalid_event", field(key), "must be a string or a number");
        user_id_bad = user_id_bad || key == "userId";
      }
    } else if (key == "event") {
      if (type != EventType::kTrack) continue;
      if (kind == element_type::STRING) {
        event.event = value.get_string().value_unsafe();
      } else {
        add_problem("invalid_event", field(key), "must be a string");
        event_bad = true;
      }
    } else if (key == "properties") {
      std::optional<object> properties;
      if (type == EventType::kTrack) object_member(properties, properties_text);
    } else if (key == "traits") {
      std::string_view unused;
      if (type == EventType::kIdentify) object_member(traits, unused);
    } else if (key == "context") {
      object_member(context, context_text);
    } else if (key == "integrations") {
      object_member(integrations, integrations_text);
    } else if (key == "messageId") {
      if (kind == element_type::STRING) {
        event.message_id = value.get_string().value_unsafe();
      } else {
        add_problem("invalid_event", field(key), "must be a string");
      }
    } else if (key == "timestamp") {
      if (const auto time = time_member()) event.timestamp = *time;
    } else if (key == "sentAt") {
      event.sent_at = time_member();
    } else if (key == "originalTimestamp") {
      event.original_timestamp = time_member();
    }
  }

  if (event.user_id.empty() && !user_id_bad) {
    add_problem(
        "missing_user_id", field("userId"),
        event.anonymous_id.empty() ? "required" : "required (anonymousId alone is not accepted)");
  }
  if (type == EventType::kTrack && event.event.empty() && !event_bad) {
    add_problem("invalid_event", field("event"), "required for type \"track\"");
  }
  std::optional<object> context_traits;
  if (context) {
    const auto found = context->at_key("traits");
    if (!found.error() && found.value_unsafe().type() != element_type::NULL_VALUE) {
      if (found.value_unsafe().type() == element_type::OBJECT) {
        context_traits = found.value_unsafe().get_object().value_unsafe();
      } else {
        add_problem("invalid_event", field("context.traits"), "must be an object");
      }
    }
  }
  build_traits(traits, context_traits, prefix, event.traits);
  if (problems_.size() != problems_before || item_problems_ > 0) return;

  if (type == EventType::kTrack) {
    event.properties = properties_text.empty() ? "{}" : std::string(properties_text);
  }
  const auto with_defaults = [&](std::string_view own_text, const std::optional<object>& own,
                                 const std::optional<object>& shared,
                                 const std::string& shared_text) -> std::string {
    if (!shared) return own_text.empty() ? "{}" : std::string(own_text);
    if (!own) return shared_text;
    // Shallow merge: the event's own members win.
    std::string merged(own_text.substr(0, own_text.size() - 1));
    bool empty = own->size() == 0;
    for (auto [key, value] : *shared) {
      if (!own->at_key(key).error()) continue;
      if (!empty) merged.push_back(',');
      empty = false;
      append_json_string(merged, key);
      merged.push_back(':');
      walker_.write(value, merged, 2);
    }
    merged.push_back('}');
    return merged;
  };
  static const std::optional<object> kNone;
  static const std::string kEmpty;
  event.context = with_defaults(context_text, context, defaults ? defaults->context : kNone,
                                defaults ? defaults->context_text : kEmpty);
  event.integrations =
      with_defaults(integrations_text, integrations, defaults ? defaults->integrations : kNone,
                    defaults ? defaults->integrations_text : kEmpty);
  if (!event.sent_at && defaults) event.sent_at = defaults->sent_at;
  events.push_back(std::move(event));
}

bool PayloadParser::Impl::build_traits(const std::optional<object>& top,
                                       const std::optional<object>& from_context,
                                       std::string_view prefix, std::string& out) {
  out.assign("{");
  bool ok = true;
  const auto append = [&](std::string_view name, element value, std::string_view base, int depth) {
    const KnownTrait kind = known_trait(name);
    const std::size_t rollback = out.size();
    if (out.size() > 1) out.push_back(',');
    append_json_string(out, name);
    out.push_back(':');
    const element_type type = value.type();
    if (kind == KnownTrait::kNone || type == element_type::NULL_VALUE) {
      walker_.write(value, out, depth);
      return;
    }
    std::string number;
    std::string_view text;
    if (type == element_type::STRING) {
      text = value.get_string().value_unsafe();
    } else if ((kind == KnownTrait::kPhone || kind == KnownTrait::kWhatsapp) &&
               (type == element_type::UINT64 ||
                (type == element_type::INT64 && int64_t(value) >= 0))) {
      number = number_to_string(value);
      text = number;
    } else {
      out.resize(rollback);
      ok = false;
      add_problem("invalid_trait", join_path(join_path(prefix, base), name), "must be a string");
      return;
    }
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      out.append("null");  // an empty string clears the trait, as null does
      return;
    }
    const auto normalized = normalize_trait_string(kind, text, options_.traits);
    if (!normalized) {
      out.resize(rollback);
      ok = false;
      add_problem("invalid_trait", join_path(join_path(prefix, base), name),
                  trait_error_message(kind));
      return;
    }
    append_json_string(out, *normalized);
  };
  if (top) {
    for (auto [name, value] : *top) append(name, value, "traits", 2);
  }
  if (from_context) {
    for (auto [name, value] : *from_context) {
      if (top && !top->at_key(name).error()) continue;  // identify's own traits win
      append(name, value, "context.traits", 3);
    }
  }
  out.push_back('}');
  return ok;
}

PayloadParser::PayloadParser(IngestOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
PayloadParser::~PayloadParser() = default;
PayloadParser::PayloadParser(PayloadParser&&) noexcept = default;
PayloadParser& PayloadParser::operator=(PayloadParser&&) noexcept = default;

IngestRequest PayloadParser::parse(Endpoint endpoint, std::string_view body,
                                   Timestamp received_at) {
  return impl_->parse(endpoint, body, received_at);
}

std::optional<std::string> PayloadParser::find_write_key(std::string_view body) {
  return impl_->find_write_key(body);
}

const IngestOptions& PayloadParser::options() const {
  return impl_->options_;
}

}  // namespace herald::ingest
