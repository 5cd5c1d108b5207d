#include "workflows/dsl/step_parser.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "workflows/expr/suggest.hpp"

namespace herald::workflows {
namespace {

const std::vector<std::string> kActions = {"send",  "wait",   "wait_until", "wait_for", "if",
                                           "split", "update", "webhook",    "escalate", "exit"};
const std::vector<std::string> kStepKeys = {"id",   "send",  "wait",   "wait_until", "wait_for",
                                            "if",   "split", "update", "webhook",    "escalate",
                                            "exit", "then",  "else",   "on_event",   "on_timeout"};
const std::vector<std::string> kSendKeys = {"template", "channels", "channel", "data"};
const std::vector<std::string> kWaitUntilKeys = {"at", "days"};
const std::vector<std::string> kWaitForKeys = {"event", "where", "timeout"};
const std::vector<std::string> kSplitKeys = {"variants"};
const std::vector<std::string> kVariantKeys = {"name", "weight", "steps"};
const std::vector<std::string> kUpdateKeys = {"set"};
const std::vector<std::string> kWebhookKeys = {"url", "method", "headers", "body"};
const std::vector<std::string> kEscalateKeys = {"reason", "note"};
const std::vector<std::string> kMethods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
const std::vector<std::string> kReservedTraits = {"id", "stats", "consent"};

const std::vector<std::string>& channel_names() {
  static const std::vector<std::string> kNames(kChannels.begin(), kChannels.end());
  return kNames;
}

const YamlEntry* find(const std::vector<YamlEntry>& entries, std::string_view name) {
  for (const auto& e : entries)
    if (e.name == name) return &e;
  return nullptr;
}

bool valid_id(const std::string& id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::optional<std::chrono::weekday> weekday_from_name(std::string name) {
  static const char* const kNames[] = {"sunday",   "monday", "tuesday", "wednesday",
                                       "thursday", "friday", "saturday"};
  for (char& c : name)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (unsigned i = 0; i < 7; ++i) {
    std::string_view full = kNames[i];
    if (name == full || name == full.substr(0, 3)) return std::chrono::weekday(i);
  }
  return std::nullopt;
}

bool list_exits(const Steps& steps);

bool step_exits(const Step& step) {
  return std::visit(
      [](const auto& action) -> bool {
        using T = std::decay_t<decltype(action)>;
        if constexpr (std::is_same_v<T, ExitStep>) {
          return true;
        } else if constexpr (std::is_same_v<T, IfStep>) {
          return list_exits(action.then_steps) && list_exits(action.else_steps);
        } else if constexpr (std::is_same_v<T, WaitForStep>) {
          return list_exits(action.on_event) && list_exits(action.on_timeout);
        } else if constexpr (std::is_same_v<T, SplitStep>) {
          return !action.variants.empty() &&
                 std::all_of(action.variants.begin(), action.variants.end(),
                             [](const SplitVariant& v) { return list_exits(v.steps); });
        } else {
          return false;
        }
      },
      step.action);
}

bool list_exits(const Steps& steps) {
  return std::any_of(steps.begin(), steps.end(), step_exits);
}

}  // namespace

bool always_exits(const Steps& steps) {
  return list_exits(steps);
}

Steps StepParser::parse_list(const YamlEntry& entry, const std::string& path) {
  Steps steps;
  if (entry.value.IsNull()) return steps;  // `else:` with nothing: no steps
  if (!source_.require_sequence(entry, "steps")) return steps;
  bool unreachable_reported = false;
  std::size_t index = 0;
  for (const auto& node : entry.value) {
    std::string step_path = path + "[" + std::to_string(index++) + "]";
    bool after_exit = list_exits(steps);
    auto step = parse_step(node, step_path);
    if (after_exit && !unreachable_reported) {
      source_.warning(source_.position(node),
                      "unreachable step " + step_path + ": every path before it ends with 'exit'");
      unreachable_reported = true;
    }
    if (step) steps.push_back(std::move(*step));
  }
  return steps;
}

std::optional<Step> StepParser::parse_step(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) {
    source_.error(node, "a step is a mapping such as '- wait: 1h', not " + node_kind(node));
    return std::nullopt;
  }
  auto all = source_.entries(node, kStepKeys, "a step");
  std::vector<const YamlEntry*> actions;
  for (const auto& e : all)
    if (std::find(kActions.begin(), kActions.end(), e.name) != kActions.end())
      actions.push_back(&e);
  if (actions.empty()) {
    source_.error(node,
                  "a step needs one of send, wait, wait_until, wait_for, if, split, update, "
                  "webhook, escalate or exit");
    return std::nullopt;
  }
  for (std::size_t i = 1; i < actions.size(); ++i)
    source_.error(actions[i]->key, "a step has one action: found both '" + actions[0]->name +
                                       "' and '" + actions[i]->name + "'");
  const std::string& action_name = actions[0]->name;
  for (const auto& e : all) {
    if ((e.name == "then" || e.name == "else") && action_name != "if")
      source_.error(e.key, "'" + e.name + "' belongs to an 'if' step");
    if ((e.name == "on_event" || e.name == "on_timeout") && action_name != "wait_for")
      source_.error(e.key, "'" + e.name + "' belongs to a 'wait_for' step");
  }

  Step step;
  step.path = path;
  step.name = path;
  step.position = source_.position(node);
  if (const auto* id = find(all, "id")) {
    auto text = source_.string(*id);
    if (text && !valid_id(*text)) {
      source_.error(*id, "step id '" + *text + "' may only hold letters, digits, '_' and '-'");
    } else if (text) {
      for (const auto& [seen, at] : ids_) {
        if (seen == *text)
          source_.error(*id, "duplicate step id '" + *text + "' (first at line " +
                                 std::to_string(at.line) + ")");
      }
      ids_.emplace_back(*text, source_.position(*id));
      step.name = *text;
    }
  }
  auto action = parse_action(*actions[0], all, path);
  if (!action) return std::nullopt;
  step.action = std::move(*action);
  return step;
}

std::optional<StepAction> StepParser::parse_action(const YamlEntry& entry,
                                                   const std::vector<YamlEntry>& all,
                                                   const std::string& path) {
  const std::string& kind = entry.name;
  if (kind == "send") return parse_send(entry);
  if (kind == "wait") {
    auto d = source_.duration(entry);
    if (!d) return std::nullopt;
    return WaitStep{*d};
  }
  if (kind == "wait_until") return parse_wait_until(entry);
  if (kind == "wait_for") return parse_wait_for(entry, all, path);
  if (kind == "if") return parse_if(entry, all, path);
  if (kind == "split") return parse_split(entry, path);
  if (kind == "update") return parse_update(entry);
  if (kind == "webhook") return parse_webhook(entry);
  if (kind == "escalate") return parse_escalate(entry);
  // exit: REASON
  if (entry.value.IsNull()) return ExitStep{"exit"};
  auto reason = source_.string(entry);
  if (!reason) return std::nullopt;
  return ExitStep{*reason};
}

void StepParser::check_channel(const YAML::Node& node, const std::string& template_name,
                               bool template_known, std::vector<std::string>& channels) {
  if (!node.IsScalar()) {
    source_.error(node, "a channel is a name such as email or sms, not " + node_kind(node));
    return;
  }
  const std::string& channel = node.Scalar();
  if (std::find(kChannels.begin(), kChannels.end(), channel) == kChannels.end()) {
    source_.error(node, "unknown channel '" + channel + "'" +
                            expr::did_you_mean(channel, channel_names()) +
                            "; channels are email, sms, whatsapp, wechat and social");
    return;
  }
  if (std::find(channels.begin(), channels.end(), channel) != channels.end()) {
    source_.warning(source_.position(node), "channel '" + channel + "' is listed twice");
    return;
  }
  if (template_known) {
    auto sections = options_.templates->channels(template_name);
    if (std::find(sections.begin(), sections.end(), channel) == sections.end())
      source_.error(node, "template '" + template_name + "' has no " + channel + " section");
  }
  channels.push_back(channel);
}

std::optional<StepAction> StepParser::parse_send(const YamlEntry& entry) {
  if (!source_.require_map(entry, "template, channels and data")) return std::nullopt;
  auto keys = source_.entries(entry.value, kSendKeys, "send");
  SendStep send;
  bool ok = true;
  bool template_known = false;
  const auto* name = find(keys, "template");
  if (name == nullptr) {
    source_.error(entry.key, "send needs a 'template'");
    ok = false;
  } else if (auto text = source_.string(*name)) {
    send.template_name = *text;
    if (options_.templates != nullptr) {
      template_known = options_.templates->has(*text);
      if (!template_known)
        source_.error(*name, "unknown template '" + *text + "'" +
                                 expr::did_you_mean(*text, options_.templates->names()));
    }
  } else {
    ok = false;
  }
  const auto* channels = find(keys, "channels");
  const auto* channel = find(keys, "channel");
  if (channels != nullptr && channel != nullptr) {
    source_.error(channel->key, "use either 'channels' or 'channel', not both");
    ok = false;
  } else if (channels != nullptr) {
    if (source_.require_sequence(*channels, "channels")) {
      for (const auto& item : channels->value)
        check_channel(item, send.template_name, template_known, send.channels);
      if (channels->value.size() == 0) source_.error(*channels, "'channels' is empty");
    }
    ok = ok && !send.channels.empty();
  } else if (channel != nullptr) {
    if (channel->value.IsNull())
      source_.error(channel->key, "'channel' needs a channel name such as email or sms");
    else
      check_channel(channel->value, send.template_name, template_known, send.channels);
    ok = ok && !send.channels.empty();
  } else {
    source_.error(entry.key, "send needs 'channels' (or 'channel')");
    ok = false;
  }
  if (const auto* data = find(keys, "data")) {
    if (source_.require_map(*data, "names and values")) send.data = template_data(data->value);
  }
  if (!ok) return std::nullopt;
  return send;
}

std::optional<StepAction> StepParser::parse_wait_until(const YamlEntry& entry) {
  if (!source_.require_map(entry, "at and days")) return std::nullopt;
  auto keys = source_.entries(entry.value, kWaitUntilKeys, "wait_until");
  WaitUntilStep step;
  bool ok = true;
  if (const auto* at = find(keys, "at")) {
    auto t = source_.time_of_day(*at);
    if (t) step.at = TimeOfDay{t->first, t->second};
    ok = t.has_value();
  } else {
    source_.error(entry.key, "wait_until needs 'at' (\"HH:MM\")");
    ok = false;
  }
  if (const auto* days = find(keys, "days")) {
    if (source_.require_sequence(*days, "days such as mon, tue")) {
      for (const auto& item : days->value) {
        auto day = item.IsScalar() ? weekday_from_name(item.Scalar()) : std::nullopt;
        if (!day) {
          static const std::vector<std::string> kDays = {"mon", "tue", "wed", "thu",
                                                         "fri", "sat", "sun"};
          source_.error(item, "unknown day " + node_kind(item) +
                                  expr::did_you_mean(scalar_text(item), kDays) +
                                  "; days are mon, tue, wed, thu, fri, sat and sun");
          ok = false;
        } else if (std::find(step.days.begin(), step.days.end(), *day) == step.days.end()) {
          step.days.push_back(*day);
        }
      }
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return step;
}

Steps StepParser::branch(const std::vector<YamlEntry>& all, const char* key,
                         const std::string& path) {
  const auto* entry = find(all, key);
  return entry ? parse_list(*entry, path + "." + key) : Steps{};
}

std::optional<StepAction> StepParser::parse_wait_for(const YamlEntry& entry,
                                                     const std::vector<YamlEntry>& all,
                                                     const std::string& path) {
  WaitForStep step;
  bool ok = source_.require_map(entry, "event, where and timeout");
  if (ok) {
    auto keys = source_.entries(entry.value, kWaitForKeys, "wait_for");
    if (const auto* event = find(keys, "event")) {
      auto name = source_.string(*event);
      ok = name.has_value();
      if (name) step.event = *name;
    } else {
      source_.error(entry.key, "wait_for needs an 'event'");
      ok = false;
    }
    if (const auto* where = find(keys, "where")) {
      step.where = source_.expression(*where, expr::Schema::workflow(), true);
      ok = ok && step.where.has_value();
    }
    if (const auto* timeout = find(keys, "timeout")) {
      auto d = source_.duration(*timeout);
      ok = ok && d.has_value();
      if (d) step.timeout = *d;
    } else {
      source_.error(entry.key, "wait_for needs a 'timeout'");
      ok = false;
    }
  }
  step.on_event = branch(all, "on_event", path);
  step.on_timeout = branch(all, "on_timeout", path);
  if (!ok) return std::nullopt;
  return step;
}

std::optional<StepAction> StepParser::parse_if(const YamlEntry& entry,
                                               const std::vector<YamlEntry>& all,
                                               const std::string& path) {
  auto condition = source_.expression(entry, expr::Schema::workflow(), true);
  if (find(all, "then") == nullptr) source_.error(entry.key, "'if' needs 'then'");
  IfStep step;
  step.then_steps = branch(all, "then", path);
  step.else_steps = branch(all, "else", path);
  if (!condition || find(all, "then") == nullptr) return std::nullopt;
  step.condition = std::move(*condition);
  return step;
}

std::optional<StepAction> StepParser::parse_split(const YamlEntry& entry, const std::string& path) {
  if (!source_.require_map(entry, "variants")) return std::nullopt;
  auto keys = source_.entries(entry.value, kSplitKeys, "split");
  const auto* variants = find(keys, "variants");
  if (variants == nullptr) {
    source_.error(entry.key, "split needs 'variants'");
    return std::nullopt;
  }
  if (!source_.require_sequence(*variants, "variants")) return std::nullopt;
  SplitStep split;
  bool ok = true;
  double total = 0;
  std::size_t index = 0;
  for (const auto& node : variants->value) {
    std::string variant_path = path + ".split.variants[" + std::to_string(index++) + "]";
    if (!node.IsMap()) {
      source_.error(node,
                    "a variant is a mapping with name, weight and steps, not " + node_kind(node));
      ok = false;
      continue;
    }
    auto fields = source_.entries(node, kVariantKeys, "a variant");
    SplitVariant variant;
    if (const auto* name = find(fields, "name")) {
      auto text = source_.string(*name);
      if (text && text->empty()) source_.error(*name, "a variant's name must not be empty");
      if (text) {
        for (const auto& seen : split.variants)
          if (seen.name == *text) source_.error(*name, "duplicate variant name '" + *text + "'");
        variant.name = *text;
      }
      ok = ok && text && !text->empty();
    } else {
      source_.error(node, "a variant needs a 'name'");
      ok = false;
    }
    if (const auto* weight = find(fields, "weight")) {
      auto w = source_.number(*weight);
      if (w && (*w < 0 || !std::isfinite(*w))) {
        source_.error(*weight, "a weight must be zero or more");
        w.reset();
      }
      ok = ok && w.has_value();
      if (w) variant.weight = *w;
    }
    total += variant.weight;
    if (const auto* steps = find(fields, "steps"))
      variant.steps = parse_list(*steps, variant_path + ".steps");
    split.variants.push_back(std::move(variant));
  }
  if (split.variants.empty()) {
    source_.error(*variants, "split needs at least one variant");
    ok = false;
  } else if (ok && total <= 0) {
    source_.error(*variants, "the weights of a split must add up to more than 0");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return split;
}

std::optional<StepAction> StepParser::parse_update(const YamlEntry& entry) {
  if (!source_.require_map(entry, "set")) return std::nullopt;
  auto keys = source_.entries(entry.value, kUpdateKeys, "update");
  const auto* set = find(keys, "set");
  if (set == nullptr) {
    source_.error(entry.key, "update needs 'set'");
    return std::nullopt;
  }
  if (!source_.require_map(*set, "traits and expressions")) return std::nullopt;
  UpdateStep update;
  bool ok = true;
  std::vector<std::string> any_key;
  for (auto it = set->value.begin(); it != set->value.end(); ++it)
    any_key.push_back(scalar_text(it->first));
  for (const auto& trait : source_.entries(set->value, any_key, "set")) {
    if (std::find(kReservedTraits.begin(), kReservedTraits.end(), trait.name) !=
        kReservedTraits.end()) {
      source_.error(trait.key, "'" + trait.name + "' cannot be set: Herald maintains it");
      ok = false;
      continue;
    }
    auto value = source_.expression(trait, expr::Schema::workflow(), false);
    if (!value) {
      ok = false;
      continue;
    }
    update.set.push_back(TraitUpdate{trait.name, std::move(*value)});
  }
  if (update.set.empty() && ok) {
    source_.error(*set, "'set' names no trait");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return update;
}

std::optional<StepAction> StepParser::parse_webhook(const YamlEntry& entry) {
  if (!source_.require_map(entry, "url, method, headers and body")) return std::nullopt;
  auto keys = source_.entries(entry.value, kWebhookKeys, "webhook");
  WebhookStep hook;
  bool ok = true;
  if (const auto* url = find(keys, "url")) {
    auto text = source_.string(*url);
    if (text && text->rfind("http://", 0) != 0 && text->rfind("https://", 0) != 0 &&
        text->rfind("{{", 0) != 0) {
      source_.error(*url, "a webhook url starts with http:// or https://");
      text.reset();
    }
    if (text) {
      check_inline_template(url->value);
      hook.url = *text;
    }
    ok = text.has_value();
  } else {
    source_.error(entry.key, "webhook needs a 'url'");
    ok = false;
  }
  if (const auto* method = find(keys, "method")) {
    auto text = source_.string(*method);
    if (text) {
      std::string upper = *text;
      for (char& c : upper)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (std::find(kMethods.begin(), kMethods.end(), upper) == kMethods.end()) {
        source_.error(*method,
                      "unknown method '" + *text + "'; use GET, POST, PUT, PATCH or DELETE");
        ok = false;
      }
      hook.method = upper;
    } else {
      ok = false;
    }
  }
  if (const auto* headers = find(keys, "headers")) {
    if (source_.require_map(*headers, "header names and values")) {
      std::vector<std::string> any_key;
      for (auto it = headers->value.begin(); it != headers->value.end(); ++it)
        any_key.push_back(scalar_text(it->first));
      for (const auto& header : source_.entries(headers->value, any_key, "headers")) {
        auto value = source_.string(header);
        if (!value) {
          ok = false;
          continue;
        }
        check_inline_template(header.value);
        hook.headers.emplace_back(header.name, *value);
      }
    } else {
      ok = false;
    }
  }
  if (const auto* body = find(keys, "body")) hook.body = template_data(body->value);
  if (!ok) return std::nullopt;
  return hook;
}

std::optional<StepAction> StepParser::parse_escalate(const YamlEntry& entry) {
  if (!source_.require_map(entry, "reason and note")) return std::nullopt;
  auto keys = source_.entries(entry.value, kEscalateKeys, "escalate");
  EscalateStep step;
  const auto* reason = find(keys, "reason");
  if (reason == nullptr) {
    source_.error(entry.key, "escalate needs a 'reason'");
    return std::nullopt;
  }
  auto text = source_.string(*reason);
  if (!text) return std::nullopt;
  step.reason = *text;
  if (const auto* note = find(keys, "note")) {
    auto value = source_.string(*note);
    if (!value) return std::nullopt;
    check_inline_template(note->value);
    step.note = *value;
  }
  return step;
}

void StepParser::check_inline_template(const YAML::Node& scalar) {
  if (options_.templates == nullptr || !scalar.IsScalar()) return;
  if (auto problem = options_.templates->check_inline(scalar.Scalar()))
    source_.error(source_.scalar_position(scalar, problem->offset), problem->message);
}

TemplateData StepParser::template_data(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      TemplateData out = TemplateData::object();
      for (auto it = node.begin(); it != node.end(); ++it)
        out[scalar_text(it->first)] = template_data(it->second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      TemplateData out = TemplateData::array();
      for (const auto& item : node) out.push_back(template_data(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() != "!") {  // plain scalars may be numbers, booleans or null
        if (text == "true" || text == "false") return text == "true";
        if (text == "null" || text == "~") return nullptr;
        double number = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
        if (!text.empty() && ec == std::errc() && end == text.data() + text.size()) {
          std::int64_t whole = 0;
          auto [iend, iec] = std::from_chars(text.data(), text.data() + text.size(), whole);
          if (iec == std::errc() && iend == text.data() + text.size()) return whole;
          return number;
        }
      }
      check_inline_template(node);
      return text;
    }
    default:
      return nullptr;
  }
}

}  // namespace herald::workflows
