#include "workflows/expr/value.hpp"

#include <cmath>

namespace herald::expr {

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return "boolean";
    case Kind::kNumber:
      return "number";
    case Kind::kString:
      return "string";
    case Kind::kTime:
      return "time";
    case Kind::kDuration:
      return "duration";
    case Kind::kList:
      return "list";
    case Kind::kJson:
      return "object";
  }
  return "?";
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

Value Value::number(double n) {
  Value v;
  v.kind_ = Kind::kNumber;
  v.number_ = n;
  return v;
}

Value Value::borrowed_string(std::string_view s) {
  Value v;
  v.kind_ = Kind::kString;
  v.string_ = s;
  return v;
}

Value Value::owned_string(std::string s) {
  auto owned = std::make_shared<const std::string>(std::move(s));
  Value v;
  v.kind_ = Kind::kString;
  v.string_ = *owned;
  v.owner_ = std::move(owned);
  return v;
}

Value Value::time(TimePoint t) {
  Value v;
  v.kind_ = Kind::kTime;
  v.micros_ = t.time_since_epoch().count();
  return v;
}

Value Value::duration(Duration d) {
  Value v;
  v.kind_ = Kind::kDuration;
  v.micros_ = d.count();
  return v;
}

Value Value::list(std::vector<Value> items) {
  auto owned = std::make_shared<const std::vector<Value>>(std::move(items));
  Value v;
  v.kind_ = Kind::kList;
  v.list_ = owned.get();
  v.owner_ = std::move(owned);
  return v;
}

Value Value::from_json(const Json& j) {
  switch (j.type()) {
    case Json::value_t::boolean:
      return boolean(j.get<bool>());
    case Json::value_t::number_integer:
      return number(static_cast<double>(j.get<std::int64_t>()));
    case Json::value_t::number_unsigned:
      return number(static_cast<double>(j.get<std::uint64_t>()));
    case Json::value_t::number_float:
      return number(j.get<double>());
    case Json::value_t::string:
      return borrowed_string(j.get_ref<const std::string&>());
    case Json::value_t::object:
    case Json::value_t::array: {
      Value v;
      v.kind_ = Kind::kJson;
      v.json_ = &j;
      return v;
    }
    default:
      return Value();
  }
}

std::size_t Value::sequence_size() const {
  if (kind_ == Kind::kList) return list_->size();
  if (kind_ == Kind::kJson && json_->is_array()) return json_->size();
  return 0;
}

Value Value::sequence_at(std::size_t i) const {
  if (kind_ == Kind::kList) return (*list_)[i];
  return from_json((*json_)[i]);
}

Json Value::to_json() const {
  switch (kind_) {
    case Kind::kNull:
      return nullptr;
    case Kind::kBool:
      return bool_;
    case Kind::kNumber:
      if (std::isfinite(number_) && std::trunc(number_) == number_ && std::fabs(number_) < 9e15)
        return static_cast<std::int64_t>(number_);
      return number_;
    case Kind::kString:
      return std::string(string_);
    case Kind::kTime:
      return format_rfc3339(as_time());
    case Kind::kDuration:
      return format_duration(as_duration());
    case Kind::kList: {
      Json out = Json::array();
      for (const auto& item : *list_) out.push_back(item.to_json());
      return out;
    }
    case Kind::kJson:
      return *json_;
  }
  return nullptr;
}

std::string Value::debug_string() const {
  if (kind_ == Kind::kString) return "'" + std::string(string_) + "'";
  return to_json().dump();
}

bool values_equal(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) {
    if (a.kind() == Kind::kTime && b.kind() == Kind::kString) {
      auto t = parse_rfc3339(b.as_string());
      return t && *t == a.as_time();
    }
    if (a.kind() == Kind::kString && b.kind() == Kind::kTime) return values_equal(b, a);
    if (a.is_sequence() && b.is_sequence()) {
      if (a.sequence_size() != b.sequence_size()) return false;
      for (std::size_t i = 0; i < a.sequence_size(); ++i)
        if (!values_equal(a.sequence_at(i), b.sequence_at(i))) return false;
      return true;
    }
    return false;
  }
  switch (a.kind()) {
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return a.as_bool() == b.as_bool();
    case Kind::kNumber:
      return a.as_number() == b.as_number();
    case Kind::kString:
      return a.as_string() == b.as_string();
    case Kind::kTime:
    case Kind::kDuration:
      return a.as_duration() == b.as_duration();
    case Kind::kList: {
      const auto& x = a.as_list();
      const auto& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (!values_equal(x[i], y[i])) return false;
      return true;
    }
    case Kind::kJson:
      return a.as_json() == b.as_json();
  }
  return false;
}

bool operator==(const Value& a, const Value& b) {
  return values_equal(a, b);
}

}  // namespace herald::expr
