#include "gateway/ingest/source_config.hpp"

#include <cctype>
#include <charconv>

#include "gateway/ingest/api_error.hpp"
#include "gateway/ingest/json_dom.hpp"

namespace herald::ingest {
namespace {

using Json = nlohmann::ordered_json;

[[noreturn]] void config_error(const YAML::Node& node, const std::string& message,
                               int column_offset = 0) {
  const YAML::Mark mark = node.Mark();
  const int line = mark.is_null() ? 0 : mark.line + 1;
  const int column = mark.is_null() ? 0 : mark.column + 1 + column_offset;
  throw SourceConfigError(message, line, column);
}

std::string scalar(const YAML::Node& node, const std::string& what) {
  if (!node.IsScalar()) config_error(node, what + ": must be a string");
  return node.Scalar();
}

// Each key of a map must be one of `allowed`.
void check_keys(const YAML::Node& map, std::initializer_list<std::string_view> allowed,
                const std::string& where) {
  for (const auto& entry : map) {
    const std::string key = entry.first.as<std::string>();
    bool known = false;
    for (const auto name : allowed) known = known || key == name;
    if (!known) config_error(entry.first, where + ": unknown key '" + key + "'");
  }
}

std::unique_ptr<const MappingExpr> compile_expr(const YAML::Node& node, const std::string& what,
                                                const MappingExprFactory& compile) {
  const std::string text = scalar(node, what);
  try {
    auto expr = compile(text);
    if (!expr) config_error(node, what + ": empty expression");
    return expr;
  } catch (const MappingExprError& error) {
    // The column is exact for plain and quoted scalars on one line, the common case.
    const int quote = node.Tag() == "!" ? 1 : 0;
    config_error(node, what + ": " + error.what(), error.column() - 1 + quote);
  } catch (const SourceConfigError&) {
    throw;
  } catch (const std::exception& error) {
    config_error(node, what + ": " + error.what());
  }
}

NamedExprs compile_map(const YAML::Node& node, const std::string& what,
                       const MappingExprFactory& compile) {
  NamedExprs out;
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    out.emplace_back(key, compile_expr(entry.second, what + "." + key, compile));
  }
  return out;
}

SignatureConfig parse_signature(const YAML::Node& node, const std::string& where) {
  if (!node.IsMap()) config_error(node, where + ": must be a map");
  check_keys(node, {"scheme", "secret", "header", "tolerance"}, where);
  SignatureConfig config;
  const YAML::Node scheme = node["scheme"];
  if (!scheme) config_error(node, where + ": scheme is required");
  const auto parsed = parse_signature_scheme(scalar(scheme, where + ".scheme"));
  if (!parsed) {
    config_error(scheme, where + ".scheme: must be shopify, hmac-sha256 or hmac-sha256-hex");
  }
  config.scheme = *parsed;

  const YAML::Node secret = node["secret"];
  if (!secret) config_error(node, where + ": secret is required");
  if (secret.IsSequence()) {
    for (const auto& item : secret) config.secrets.push_back(scalar(item, where + ".secret"));
  } else {
    config.secrets.push_back(scalar(secret, where + ".secret"));
  }
  if (config.secrets.empty()) config_error(secret, where + ".secret: must not be empty");
  for (const auto& value : config.secrets) {
    if (value.empty()) config_error(secret, where + ".secret: must not be empty");
  }

  config.header = std::string(default_signature_header(config.scheme));
  if (const YAML::Node header = node["header"]) {
    config.header = scalar(header, where + ".header");
    for (char& c : config.header) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (config.header.empty()) config_error(header, where + ".header: must not be empty");
  }
  if (config.header.empty()) config_error(node, where + ": header is required for this scheme");

  if (const YAML::Node tolerance = node["tolerance"]) {
    if (config.scheme != SignatureScheme::kStripe) {
      config_error(tolerance, where + ".tolerance: only the hmac-sha256 scheme is timestamped");
    }
    const auto duration = parse_duration(scalar(tolerance, where + ".tolerance"));
    if (!duration) config_error(tolerance, where + ".tolerance: not a duration (e.g. 5m)");
    config.tolerance = std::chrono::duration_cast<std::chrono::seconds>(*duration);
  }
  return config;
}

MapRule parse_rule(const YAML::Node& node, const std::string& where,
                   const MappingExprFactory& compile) {
  if (!node.IsMap()) config_error(node, where + ": must be a map");
  check_keys(node, {"when", "event", "event_from", "user_id", "properties", "traits", "message_id"},
             where);
  MapRule rule;
  if (const YAML::Node when = node["when"])
    rule.when = compile_expr(when, where + ".when", compile);
  const YAML::Node event = node["event"];
  const YAML::Node event_from = node["event_from"];
  if (event && event_from)
    config_error(event_from, where + ": event and event_from exclude each other");
  if (event) {
    rule.event = scalar(event, where + ".event");
    if (rule.event.empty()) config_error(event, where + ".event: must not be empty");
  } else if (event_from) {
    rule.event_from = compile_expr(event_from, where + ".event_from", compile);
  } else {
    config_error(node, where + ": event or event_from is required");
  }
  const YAML::Node user_id = node["user_id"];
  if (!user_id) config_error(node, where + ": user_id is required");
  rule.user_id = compile_expr(user_id, where + ".user_id", compile);
  if (const YAML::Node properties = node["properties"]) {
    if (properties.IsMap()) {
      rule.properties_map = compile_map(properties, where + ".properties", compile);
    } else {
      rule.properties = compile_expr(properties, where + ".properties", compile);
    }
  }
  if (const YAML::Node traits = node["traits"]) {
    if (traits.IsMap()) {
      rule.traits_map = compile_map(traits, where + ".traits", compile);
    } else {
      rule.traits = compile_expr(traits, where + ".traits", compile);
    }
  }
  if (const YAML::Node message_id = node["message_id"]) {
    rule.message_id = compile_expr(message_id, where + ".message_id", compile);
  }
  return rule;
}

[[noreturn]] void unmapped(const std::string& message) {
  throw ApiError(422, "unmapped", message);
}

// A customer id or event name: a non-empty string, or a number in its string form.
std::string identifier(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return value.dump();
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (number == double(static_cast<long long>(number))) {
      return std::to_string(static_cast<long long>(number));
    }
    return value.dump();
  }
  return {};
}

Json object_from(const std::unique_ptr<const MappingExpr>& expr, const NamedExprs& named,
                 const Json& headers, const Json& body, const char* what) {
  if (expr) {
    Json value = expr->eval(headers, body);
    if (value.is_null()) return Json::object();
    if (!value.is_object()) unmapped(std::string(what) + ": the mapping did not give an object");
    return value;
  }
  Json out = Json::object();
  for (const auto& [name, item] : named) out[name] = item->eval(headers, body);
  return out;
}

std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

Event Source::map(const Json& headers, const Json& body, Timestamp received_at,
                  const TraitOptions& options) const {
  const MapRule* rule = nullptr;
  for (const auto& candidate : rules_) {
    if (!candidate.when) {
      rule = &candidate;
      break;
    }
    const Json holds = candidate.when->eval(headers, body);
    if (holds.is_boolean() && holds.get<bool>()) {
      rule = &candidate;
      break;
    }
  }
  if (rule == nullptr) unmapped("no mapping rule of source " + name_ + " matches the request");

  Event event;
  event.type = EventType::kTrack;
  event.received_at = received_at;
  event.timestamp = received_at;
  event.event = rule->event_from ? identifier(rule->event_from->eval(headers, body)) : rule->event;
  if (event.event.empty()) unmapped("the mapping gave no event name");
  event.user_id = identifier(rule->user_id->eval(headers, body));
  if (event.user_id.empty()) unmapped("the mapping gave no customer id");

  event.properties =
      dump(object_from(rule->properties, rule->properties_map, headers, body, "properties"));
  Json traits = object_from(rule->traits, rule->traits_map, headers, body, "traits");
  Json kept = Json::object();
  for (auto& [name, value] : traits.items()) {
    if (!value.is_null()) kept[name] = std::move(value);
  }
  event.traits = dump(normalize_traits(kept, options, "traits"));
  event.context = "{}";
  event.integrations = "{}";

  Json message_id;
  if (rule->message_id) {
    message_id = rule->message_id->eval(headers, body);
  } else if (signature_.scheme == SignatureScheme::kShopify && headers.is_object() &&
             headers.contains("x-shopify-webhook-id")) {
    message_id = headers["x-shopify-webhook-id"];
  }
  event.message_id = identifier(message_id);
  return event;
}

Event Source::handle(const Json& headers, std::string_view body, Timestamp received_at,
                     const TraitOptions& options) const {
  verify(headers, body, std::chrono::system_clock::time_point(received_at));
  return map(headers, parse_json_document(body), received_at, options);
}

std::shared_ptr<const Source> parse_source(std::string name, const YAML::Node& node,
                                           const MappingExprFactory& compile) {
  const std::string where = "sources." + name;
  if (!node.IsMap()) config_error(node, where + ": must be a map");
  check_keys(node, {"signature", "map"}, where);
  const YAML::Node signature = node["signature"];
  if (!signature) config_error(node, where + ": signature is required");
  SignatureConfig config = parse_signature(signature, where + ".signature");
  const YAML::Node map = node["map"];
  if (!map) config_error(node, where + ": map is required");
  if (!map.IsSequence() || map.size() == 0) {
    config_error(map, where + ".map: must be a list of at least one rule");
  }
  std::vector<MapRule> rules;
  for (std::size_t i = 0; i < map.size(); ++i) {
    rules.push_back(parse_rule(map[i], where + ".map[" + std::to_string(i) + "]", compile));
  }
  return std::make_shared<const Source>(std::move(name), std::move(config), std::move(rules));
}

SourceRegistry parse_sources(const YAML::Node& sources, const MappingExprFactory& compile) {
  SourceRegistry registry;
  if (!sources || sources.IsNull()) return registry;
  if (!sources.IsMap()) config_error(sources, "sources: must be a map");
  for (const auto& entry : sources) {
    std::string name = scalar(entry.first, "sources");
    registry.emplace(name, parse_source(name, entry.second, compile));
  }
  return registry;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  using std::chrono::milliseconds;
  if (text.empty()) return std::nullopt;
  long long plain = 0;
  const auto [plain_end, plain_error] =
      std::from_chars(text.data(), text.data() + text.size(), plain);
  if (plain_error == std::errc{} && plain_end == text.data() + text.size()) {
    if (plain < 0) return std::nullopt;
    return milliseconds(plain * 1000);
  }
  milliseconds total{0};
  while (!text.empty()) {
    long long amount = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), amount);
    if (error != std::errc{} || amount < 0 || amount > 1'000'000'000) return std::nullopt;
    text.remove_prefix(std::size_t(end - text.data()));
    std::size_t unit_length = 0;
    while (unit_length < text.size() && text[unit_length] >= 'a' && text[unit_length] <= 'z') {
      ++unit_length;
    }
    const std::string_view unit = text.substr(0, unit_length);
    text.remove_prefix(unit_length);
    if (unit == "ms") {
      total += milliseconds(amount);
    } else if (unit == "s") {
      total += milliseconds(amount * 1000);
    } else if (unit == "m") {
      total += milliseconds(amount * 60'000);
    } else if (unit == "h") {
      total += milliseconds(amount * 3'600'000);
    } else if (unit == "d") {
      total += milliseconds(amount * 86'400'000);
    } else {
      return std::nullopt;
    }
  }
  return total;
}

Json header_object(const std::vector<std::pair<std::string, std::string>>& headers) {
  Json out = Json::object();
  for (const auto& [name, value] : headers) {
    std::string key = name;
    for (char& c : key) c = char(std::tolower(static_cast<unsigned char>(c)));
    auto found = out.find(key);
    if (found == out.end()) {
      out[key] = value;
    } else {
      found->get_ref<std::string&>() += ", " + value;
    }
  }
  return out;
}

}  // namespace herald::ingest
