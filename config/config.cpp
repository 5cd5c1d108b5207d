#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <date/tz.h>

namespace herald::config {

const std::vector<std::string> kChannels{"email", "sms", "whatsapp", "wechat", "social"};

namespace {

const std::map<std::string, std::vector<std::string>> kProviders{
    {"outbox", {"email", "sms", "whatsapp", "wechat", "social"}},
    {"smtp", {"email"}},
    {"sendgrid", {"email"}},
    {"twilio", {"sms"}},
    {"whatsapp_cloud", {"whatsapp"}},
    {"wechat_oa", {"wechat"}},
    {"messenger", {"social"}},
};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string did_you_mean(std::string_view key, const std::vector<std::string_view>& allowed) {
  std::string_view best;
  std::size_t best_distance = std::max<std::size_t>(2, key.size() / 3) + 1;
  for (auto candidate : allowed) {
    auto d = edit_distance(key, candidate);
    if (d < best_distance) best = candidate, best_distance = d;
  }
  return best.empty() ? std::string() : " (did you mean \"" + std::string(best) + "\"?)";
}

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    throw ConfigError(location_of(node, file_), message);
  }

  /// Rejects keys outside `allowed`; `section` names the map in messages.
  void check_keys(const YAML::Node& map, const std::vector<std::string_view>& allowed,
                  std::string_view section) const {
    if (!map.IsMap()) fail(map, std::string(section) + ": expected a mapping");
    for (auto it = map.begin(); it != map.end(); ++it) {
      auto key = it->first.as<std::string>();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string where = section.empty() ? key : std::string(section) + "." + key;
        fail(it->first, "unknown key \"" + where + "\"" + did_you_mean(key, allowed));
      }
    }
  }

  std::string str(const YAML::Node& node, std::string_view what) const {
    if (!node.IsScalar()) fail(node, std::string(what) + ": expected a string");
    try {
      return expand_env(node.Scalar());
    } catch (const std::invalid_argument& e) {
      fail(node, std::string(what) + ": " + e.what());
    }
  }

  bool boolean(const YAML::Node& node, std::string_view what) const {
    auto text = str(node, what);
    if (text == "true") return true;
    if (text == "false") return false;
    fail(node, std::string(what) + ": expected true or false, got \"" + text + "\"");
  }

  uint64_t integer(const YAML::Node& node, std::string_view what, uint64_t min,
                   uint64_t max) const {
    auto text = str(node, what);
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
      fail(node, std::string(what) + ": expected an integer from " + std::to_string(min) +
                     " to " + std::to_string(max) + ", got \"" + text + "\"");
    return value;
  }

  Duration duration(const YAML::Node& node, std::string_view what) const {
    auto text = str(node, what);
    auto d = parse_duration(text);
    if (!d)
      fail(node, std::string(what) + ": expected a duration such as 30s, 15m, 1h, 2d or 1w, got \"" +
                     text + "\"");
    return *d;
  }

  std::vector<std::string> strings(const YAML::Node& node, std::string_view what) const {
    if (node.IsNull()) return {};
    if (!node.IsSequence()) fail(node, std::string(what) + ": expected a list");
    std::vector<std::string> out;
    for (const auto& item : node) out.push_back(str(item, what));
    return out;
  }

  std::string channel(const YAML::Node& node, std::string_view what) const {
    auto name = str(node, what);
    if (std::find(kChannels.begin(), kChannels.end(), name) == kChannels.end())
      fail(node, std::string(what) + ": unknown channel \"" + name +
                     "\" (channels: email, sms, whatsapp, wechat, social)");
    return name;
  }

  int clock_time(const YAML::Node& node, std::string_view what) const {
    auto text = str(node, what);
    int h = -1, m = -1;
    if (text.size() == 5 && text[2] == ':' && std::isdigit(text[0]) && std::isdigit(text[1]) &&
        std::isdigit(text[3]) && std::isdigit(text[4])) {
      h = (text[0] - '0') * 10 + (text[1] - '0');
      m = (text[3] - '0') * 10 + (text[4] - '0');
    }
    if (h < 0 || h > 23 || m < 0 || m > 59)
      fail(node, std::string(what) + ": expected a local time HH:MM, got \"" + text + "\"");
    return h * 60 + m;
  }

  /// Expands environment variables in every scalar of a raw section, in place.
  void expand_tree(YAML::Node node) const {
    if (node.IsScalar()) {
      if (node.Scalar().find("${") != std::string::npos) {
        try {
          node = expand_env(node.Scalar());
        } catch (const std::invalid_argument& e) {
          fail(node, e.what());
        }
      }
    } else if (node.IsSequence()) {
      for (auto item : node) expand_tree(item);
    } else if (node.IsMap()) {
      for (auto it = node.begin(); it != node.end(); ++it) expand_tree(it->second);
    }
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

void read_server(const Reader& r, const YAML::Node& n, ServerConfig& out) {
  r.check_keys(n,
               {"listen", "threads", "max_body_bytes", "header_timeout", "request_timeout",
                "idle_timeout", "shutdown_timeout"},
               "server");
  if (auto v = n["listen"]) {
    auto text = r.str(v, "server.listen");
    auto colon = text.rfind(':');
    std::string host = colon == std::string::npos ? "" : text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    unsigned port = 0;
    auto port_text = colon == std::string::npos ? std::string() : text.substr(colon + 1);
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (colon == std::string::npos || port_text.empty() || ec != std::errc() ||
        end != port_text.data() + port_text.size() || port > 65535)
      r.fail(v, "server.listen: expected HOST:PORT (for example 127.0.0.1:8080), got \"" + text +
                    "\"");
    out.listen_host = host.empty() ? "0.0.0.0" : host;
    out.listen_port = static_cast<uint16_t>(port);
  }
  if (auto v = n["threads"]) out.threads = r.integer(v, "server.threads", 0, 256);
  if (auto v = n["max_body_bytes"])
    out.max_body_bytes = r.integer(v, "server.max_body_bytes", 1024, 1ull << 30);
  if (auto v = n["header_timeout"]) out.header_timeout = r.duration(v, "server.header_timeout");
  if (auto v = n["request_timeout"]) out.request_timeout = r.duration(v, "server.request_timeout");
  if (auto v = n["idle_timeout"]) out.idle_timeout = r.duration(v, "server.idle_timeout");
  if (auto v = n["shutdown_timeout"])
    out.shutdown_timeout = r.duration(v, "server.shutdown_timeout");
}

void read_redis(const Reader& r, const YAML::Node& n, RedisConfig& out) {
  r.check_keys(n, {"url", "cluster", "partitions"}, "redis");
  if (auto v = n["url"]) {
    out.url = r.str(v, "redis.url");
    if (!out.url.empty() && out.url.rfind("redis://", 0) != 0 &&
        out.url.rfind("rediss://", 0) != 0 && out.url.rfind("unix://", 0) != 0)
      r.fail(v, "redis.url: expected redis://, rediss:// or unix://, or empty for a managed redis");
  }
  if (auto v = n["cluster"]) {
    out.cluster = r.boolean(v, "redis.cluster");
    if (out.cluster && out.url.empty())
      r.fail(v, "redis.cluster: needs redis.url naming a node of the cluster (the managed "
                "redis-server is a single node)");
    if (out.cluster && out.url.rfind("unix://", 0) == 0)
      r.fail(v, "redis.cluster: a cluster's nodes are reached by redis:// urls");
  }
  if (auto v = n["partitions"]) out.partitions = r.integer(v, "redis.partitions", 1, 1024);
}

void read_auth(const Reader& r, const YAML::Node& n, AuthConfig& out) {
  r.check_keys(n, {"write_keys", "admin_keys", "agents", "unsubscribe_secret"}, "auth");
  if (auto v = n["write_keys"]) out.write_keys = r.strings(v, "auth.write_keys");
  if (auto v = n["admin_keys"]) out.admin_keys = r.strings(v, "auth.admin_keys");
  if (auto v = n["agents"]; v && !v.IsNull()) {
    if (!v.IsSequence()) r.fail(v, "auth.agents: expected a list of {name, token}");
    std::set<std::string> names;
    for (const auto& a : v) {
      r.check_keys(a, {"name", "token"}, "auth.agents[]");
      if (!a["name"] || !a["token"]) r.fail(a, "auth.agents[]: needs both name and token");
      Agent agent{r.str(a["name"], "auth.agents[].name"), r.str(a["token"], "auth.agents[].token")};
      if (agent.name.empty() || agent.token.empty())
        r.fail(a, "auth.agents[]: name and token must not be empty");
      if (!names.insert(agent.name).second)
        r.fail(a["name"], "auth.agents[]: duplicate agent \"" + agent.name + "\"");
      out.agents.push_back(std::move(agent));
    }
  }
  if (auto v = n["unsubscribe_secret"]) out.unsubscribe_secret = r.str(v, "auth.unsubscribe_secret");
  for (const auto* list : {&out.write_keys, &out.admin_keys})
    for (const auto& key : *list)
      if (key.empty()) r.fail(n, "auth: an empty key is not allowed");
}

void read_policies(const Reader& r, const YAML::Node& n, PoliciesConfig& out) {
  r.check_keys(n,
               {"default_timezone", "default_region", "quiet_hours", "frequency_caps", "consent"},
               "policies");
  if (auto v = n["default_timezone"]) {
    out.default_timezone = r.str(v, "policies.default_timezone");
    try {
      date::locate_zone(out.default_timezone);
    } catch (const std::exception&) {
      r.fail(v, "policies.default_timezone: unknown IANA time zone \"" + out.default_timezone + "\"");
    }
  }
  if (auto v = n["default_region"]) {
    out.default_region = r.str(v, "policies.default_region");
    bool ok = out.default_region.size() == 2 && std::isupper(out.default_region[0]) &&
              std::isupper(out.default_region[1]);
    if (!ok) r.fail(v, "policies.default_region: expected an ISO 3166 region such as US or FR");
  }
  if (auto q = n["quiet_hours"]) {
    if (q.IsNull()) {
      out.quiet_hours.channels.clear();
    } else {
      r.check_keys(q, {"from", "to", "channels"}, "policies.quiet_hours");
      if (auto v = q["from"]) out.quiet_hours.from_minutes = r.clock_time(v, "quiet_hours.from");
      if (auto v = q["to"]) out.quiet_hours.to_minutes = r.clock_time(v, "quiet_hours.to");
      if (auto v = q["channels"]) {
        out.quiet_hours.channels.clear();
        if (!v.IsSequence()) r.fail(v, "policies.quiet_hours.channels: expected a list");
        for (const auto& c : v) out.quiet_hours.channels.push_back(r.channel(c, "quiet_hours.channels"));
      }
    }
  }
  if (auto caps = n["frequency_caps"]; caps && !caps.IsNull()) {
    if (!caps.IsSequence()) r.fail(caps, "policies.frequency_caps: expected a list");
    for (const auto& c : caps) {
      r.check_keys(c, {"max", "per", "channels"}, "policies.frequency_caps[]");
      if (!c["max"] || !c["per"]) r.fail(c, "policies.frequency_caps[]: needs max and per");
      FrequencyCap cap;
      cap.max = r.integer(c["max"], "frequency_caps[].max", 1, 1000000);
      cap.per = r.duration(c["per"], "frequency_caps[].per");
      if (auto ch = c["channels"]) {
        if (!ch.IsSequence()) r.fail(ch, "policies.frequency_caps[].channels: expected a list");
        for (const auto& x : ch) cap.channels.push_back(r.channel(x, "frequency_caps[].channels"));
      } else {
        cap.channels = kChannels;
      }
      out.frequency_caps.push_back(std::move(cap));
    }
  }
  if (auto consent = n["consent"]) {
    if (!consent.IsMap()) r.fail(consent, "policies.consent: expected a mapping");
    for (auto it = consent.begin(); it != consent.end(); ++it) {
      auto channel = r.channel(it->first, "policies.consent");
      auto value = r.str(it->second, "policies.consent." + channel);
      if (value != "opt_in" && value != "opt_out")
        r.fail(it->second, "policies.consent." + channel + ": expected opt_in or opt_out");
      out.consent[channel] = value == "opt_in" ? ConsentDefault::kOptIn : ConsentDefault::kOptOut;
    }
  }
}

void read_channels(const Reader& r, const YAML::Node& n, std::map<std::string, ChannelConfig>& out) {
  if (!n.IsMap()) r.fail(n, "channels: expected a mapping");
  for (auto it = n.begin(); it != n.end(); ++it) {
    auto channel = r.channel(it->first, "channels");
    auto section = it->second;
    if (!section.IsMap()) r.fail(section, "channels." + channel + ": expected a mapping");
    r.expand_tree(section);
    ChannelConfig cfg;
    cfg.section = section;
    if (auto p = section["provider"]) cfg.provider = r.str(p, "channels." + channel + ".provider");
    auto known = kProviders.find(cfg.provider);
    if (known == kProviders.end()) {
      std::vector<std::string_view> names;
      for (const auto& [name, _] : kProviders) names.push_back(name);
      r.fail(section["provider"] ? section["provider"] : section,
             "channels." + channel + ".provider: unknown provider \"" + cfg.provider + "\"" +
                 did_you_mean(cfg.provider, names));
    }
    const auto& allowed = known->second;
    if (std::find(allowed.begin(), allowed.end(), channel) == allowed.end())
      r.fail(section["provider"], "channels." + channel + ".provider: \"" + cfg.provider +
                                      "\" cannot send on the " + channel + " channel");
    out[channel] = std::move(cfg);
  }
}

Config read_document(const Reader& r, const YAML::Node& root) {
  Config c;
  c.file = r.file();
  for (const auto& ch : kChannels) c.channels[ch] = ChannelConfig{};
  if (!root || root.IsNull()) return c;
  r.check_keys(root,
               {"server", "redis", "data_dir", "workflows_dir", "templates_dir", "ingest", "auth",
                "public_url", "sources", "policies", "stats", "conversations", "templates",
                "channels", "log"},
               "");
  // A section that is absent or written empty (`ingest:`) keeps its defaults.
  auto section = [&](const char* name) -> std::optional<YAML::Node> {
    auto node = root[name];
    if (!node || node.IsNull()) return std::nullopt;
    return node;
  };
  if (auto o = section("server")) if (const YAML::Node& n = *o; true) read_server(r, n, c.server);
  if (auto o = section("redis")) if (const YAML::Node& n = *o; true) read_redis(r, n, c.redis);
  if (auto v = root["data_dir"]) c.data_dir = r.str(v, "data_dir");
  if (auto v = root["workflows_dir"]) c.workflows_dir = r.str(v, "workflows_dir");
  if (auto v = root["templates_dir"]) c.templates_dir = r.str(v, "templates_dir");
  if (auto o = section("ingest")) if (const YAML::Node& n = *o; true) {
    r.check_keys(n, {"dedupe_window", "max_backlog", "processors_per_thread"}, "ingest");
    if (auto v = n["dedupe_window"]) c.ingest.dedupe_window = r.duration(v, "ingest.dedupe_window");
    if (auto v = n["max_backlog"])
      c.ingest.max_backlog = r.integer(v, "ingest.max_backlog", 1, 1ull << 40);
    if (auto v = n["processors_per_thread"])
      c.ingest.processors_per_thread =
          static_cast<unsigned>(r.integer(v, "ingest.processors_per_thread", 1, 8));
  }
  if (auto o = section("auth")) if (const YAML::Node& n = *o; true) read_auth(r, n, c.auth);
  if (auto v = root["public_url"]) {
    c.public_url = r.str(v, "public_url");
    if (c.public_url.rfind("http://", 0) != 0 && c.public_url.rfind("https://", 0) != 0)
      r.fail(v, "public_url: expected an http:// or https:// URL");
    while (!c.public_url.empty() && c.public_url.back() == '/') c.public_url.pop_back();
  }
  if (auto o = section("sources")) if (const YAML::Node& n = *o; true) {
    if (!n.IsMap()) r.fail(n, "sources: expected a mapping of source names");
    r.expand_tree(n);
    c.sources = n;
  }
  if (auto o = section("policies")) if (const YAML::Node& n = *o; true) read_policies(r, n, c.policies);
  if (auto o = section("stats")) if (const YAML::Node& n = *o; true) {
    r.check_keys(n, {"order_event", "default_order_gap"}, "stats");
    if (auto v = n["order_event"]) c.stats.order_event = r.str(v, "stats.order_event");
    if (auto v = n["default_order_gap"])
      c.stats.default_order_gap = r.duration(v, "stats.default_order_gap");
  }
  if (auto o = section("conversations")) if (const YAML::Node& n = *o; true) {
    r.check_keys(n, {"escalate_keywords", "help_text", "stop_text", "auto_assign", "max_per_agent"},
                 "conversations");
    if (auto v = n["escalate_keywords"])
      c.conversations.escalate_keywords = r.strings(v, "conversations.escalate_keywords");
    if (auto v = n["help_text"]) c.conversations.help_text = r.str(v, "conversations.help_text");
    if (auto v = n["stop_text"]) c.conversations.stop_text = r.str(v, "conversations.stop_text");
    if (auto v = n["auto_assign"]) c.conversations.auto_assign = r.boolean(v, "auto_assign");
    if (auto v = n["max_per_agent"])
      c.conversations.max_per_agent = r.integer(v, "conversations.max_per_agent", 1, 100000);
  }
  if (auto o = section("templates")) if (const YAML::Node& n = *o; true) {
    r.check_keys(n, {"max_iterations", "max_output_bytes"}, "templates");
    if (auto v = n["max_iterations"])
      c.templates.max_iterations = r.integer(v, "templates.max_iterations", 1, 100000000);
    if (auto v = n["max_output_bytes"])
      c.templates.max_output_bytes = r.integer(v, "templates.max_output_bytes", 64, 1ull << 30);
  }
  if (auto o = section("channels")) if (const YAML::Node& n = *o; true) read_channels(r, n, c.channels);
  if (auto o = section("log")) if (const YAML::Node& n = *o; true) {
    r.check_keys(n, {"level", "format"}, "log");
    if (auto v = n["level"]) {
      c.log.level = r.str(v, "log.level");
      static const std::set<std::string> kLevels{"trace", "debug", "info", "warn", "error"};
      if (!kLevels.count(c.log.level))
        r.fail(v, "log.level: expected trace, debug, info, warn or error");
    }
    if (auto v = n["format"]) {
      c.log.format = r.str(v, "log.format");
      if (c.log.format != "text" && c.log.format != "json")
        r.fail(v, "log.format: expected text or json");
    }
  }
  return c;
}

}  // namespace

ConfigError::ConfigError(Location where, const std::string& message)
    : std::runtime_error(where.file + ":" + std::to_string(where.line) + ":" +
                         std::to_string(where.column) + ": " + message),
      where_(std::move(where)),
      reason_(message) {}

unsigned ServerConfig::effective_threads() const {
  if (threads > 0) return threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

Location location_of(const YAML::Node& node, const std::string& file) {
  auto mark = node.Mark();
  if (mark.is_null()) return {file, 1, 1};
  return {file, mark.line + 1, mark.column + 1};
}

std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  Duration total{0};
  std::size_t i = 0;
  while (i < text.size()) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), n);
    if (ec != std::errc() || end == text.data() + i) return std::nullopt;
    i = end - text.data();
    std::size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    auto unit = text.substr(unit_start, i - unit_start);
    uint64_t ms;
    if (unit == "ms") ms = 1;
    else if (unit == "s") ms = 1000;
    else if (unit == "m") ms = 60'000;
    else if (unit == "h") ms = 3'600'000;
    else if (unit == "d") ms = 86'400'000;
    else if (unit == "w") ms = 7 * 86'400'000ull;
    else return std::nullopt;
    if (n > (1ull << 40)) return std::nullopt;
    total += Duration(n * ms);
  }
  return total;
}

std::string expand_env(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    auto start = text.find("${", i);
    if (start == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, start - i));
    auto close = text.find('}', start);
    if (close == std::string_view::npos)
      throw std::invalid_argument("unterminated ${ in \"" + std::string(text) + "\"");
    auto inner = text.substr(start + 2, close - start - 2);
    auto sep = inner.find(":-");
    auto name = std::string(inner.substr(0, sep));
    bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                 std::all_of(name.begin(), name.end(), [](char ch) {
                   return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
                 });
    if (!valid) throw std::invalid_argument("bad variable reference ${" + std::string(inner) + "}");
    if (const char* value = std::getenv(name.c_str())) {
      out.append(value);
    } else if (sep != std::string_view::npos) {
      out.append(inner.substr(sep + 2));
    } else {
      throw std::invalid_argument("environment variable " + name + " is not set");
    }
    i = close + 1;
  }
  return out;
}

Config parse(const std::string& text, const std::string& file) {
  Reader reader(file);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError({file, e.mark.line + 1, e.mark.column + 1}, e.msg);
  }
  return read_document(reader, root);
}

Config load(const std::string& path, bool required) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (required) throw ConfigError({path, 0, 0}, "cannot read the config file");
    Config c;
    for (const auto& ch : kChannels) c.channels[ch] = ChannelConfig{};
    return c;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse(buffer.str(), path);
}

}  // namespace herald::config
