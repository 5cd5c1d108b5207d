#include "workflows/expr/schema.hpp"

namespace herald::expr {
namespace {

FieldSpec leaf(Type type) {
  return FieldSpec{type, false, {}, Type::kUnknown};
}

FieldSpec customer_spec() {
  FieldSpec consent{Type::kObject, true, {}, Type::kUnknown};
  for (const char* channel : {"email", "sms", "whatsapp", "wechat", "social"})
    consent.fields.emplace_back(channel, leaf(Type::kString));
  FieldSpec stats{Type::kObject,
                  true,
                  {{"orders", leaf(Type::kNumber)},
                   {"revenue", leaf(Type::kNumber)},
                   {"first_order_at", leaf(Type::kTime)},
                   {"last_order_at", leaf(Type::kTime)},
                   {"churn_risk", leaf(Type::kNumber)}},
                  Type::kUnknown};
  // Traits are open-ended; the ones Herald normalises have known types.
  return FieldSpec{Type::kObject,
                   false,
                   {{"id", leaf(Type::kString)},
                    {"email", leaf(Type::kString)},
                    {"phone", leaf(Type::kString)},
                    {"whatsapp", leaf(Type::kString)},
                    {"timezone", leaf(Type::kString)},
                    {"locale", leaf(Type::kString)},
                    {"birthday", leaf(Type::kString)},
                    {"created_at", leaf(Type::kTime)},
                    {"updated_at", leaf(Type::kTime)},
                    {"stats", std::move(stats)},
                    {"consent", std::move(consent)}},
                   Type::kUnknown};
}

FieldSpec event_spec() {
  return FieldSpec{Type::kObject,
                   true,
                   {{"name", leaf(Type::kString)},
                    {"timestamp", leaf(Type::kTime)},
                    {"properties", FieldSpec{Type::kObject, false, {}, Type::kUnknown}}},
                   Type::kUnknown};
}

FieldSpec run_spec() {
  return FieldSpec{Type::kObject,
                   true,
                   {{"id", leaf(Type::kString)},
                    {"workflow", leaf(Type::kString)},
                    {"variant", leaf(Type::kString)},
                    {"entered_at", leaf(Type::kTime)}},
                   Type::kUnknown};
}

}  // namespace

std::string_view root_name(Root root) {
  switch (root) {
    case Root::kCustomer:
      return "customer";
    case Root::kEvent:
      return "event";
    case Root::kRun:
      return "run";
    case Root::kHeader:
      return "header";
    case Root::kBody:
      return "body";
  }
  return "?";
}

std::optional<Root> root_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kRootCount; ++i) {
    auto root = static_cast<Root>(i);
    if (root_name(root) == name) return root;
  }
  return std::nullopt;
}

std::string_view type_name(Type type) {
  switch (type) {
    case Type::kUnknown:
      return "unknown";
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "boolean";
    case Type::kNumber:
      return "number";
    case Type::kString:
      return "string";
    case Type::kTime:
      return "time";
    case Type::kDuration:
      return "duration";
    case Type::kList:
      return "list";
    case Type::kObject:
      return "object";
  }
  return "?";
}

const FieldSpec* FieldSpec::field(std::string_view name) const {
  for (const auto& [key, spec] : fields)
    if (key == name) return &spec;
  return nullptr;
}

Schema::Schema(std::string description, std::initializer_list<Root> roots, bool allows_now)
    : description_(std::move(description)), allows_now_(allows_now) {
  for (Root r : roots) allowed_[static_cast<std::size_t>(r)] = true;
  roots_[static_cast<std::size_t>(Root::kCustomer)] = customer_spec();
  roots_[static_cast<std::size_t>(Root::kEvent)] = event_spec();
  roots_[static_cast<std::size_t>(Root::kRun)] = run_spec();
  roots_[static_cast<std::size_t>(Root::kHeader)] =
      FieldSpec{Type::kObject, false, {}, Type::kString};
  roots_[static_cast<std::size_t>(Root::kBody)] = leaf(Type::kUnknown);
}

const Schema& Schema::workflow() {
  static const Schema kSchema("steps see customer, event, run and now",
                              {Root::kCustomer, Root::kEvent, Root::kRun});
  return kSchema;
}

const Schema& Schema::trigger() {
  static const Schema kSchema("a trigger's where sees event, customer and now",
                              {Root::kCustomer, Root::kEvent});
  return kSchema;
}

const Schema& Schema::segment() {
  static const Schema kSchema("segments see customer and now", {Root::kCustomer});
  return kSchema;
}

const Schema& Schema::source_mapping() {
  static const Schema kSchema("source mappings see header, body and now",
                              {Root::kHeader, Root::kBody});
  return kSchema;
}

}  // namespace herald::expr
