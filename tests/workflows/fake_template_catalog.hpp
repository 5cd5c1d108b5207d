#pragma once

#include <map>
#include <string>
#include <vector>

#include "workflows/dsl/template_catalog.hpp"

namespace herald::workflows::testing {

/// The example templates of templates/examples, by name and channel sections. An inline
/// template containing `{% bad` is reported as an error at that offset.
class FakeTemplateCatalog : public TemplateCatalog {
 public:
  FakeTemplateCatalog() {
    for (const char* name : {"cart_discount", "birthday_coupon", "winback_discount", "welcome_1",
                             "welcome_2", "review_request", "vip_welcome"})
      sections_[name] = {"email", "sms"};
    sections_["cart_reminder"] = {"email", "sms", "whatsapp", "wechat", "social"};
  }

  bool has(std::string_view name) const override { return sections_.count(std::string(name)) > 0; }

  std::vector<std::string> channels(std::string_view name) const override {
    auto it = sections_.find(std::string(name));
    return it == sections_.end() ? std::vector<std::string>{} : it->second;
  }

  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [name, unused] : sections_) out.push_back(name);
    return out;
  }

  std::optional<InlineError> check_inline(std::string_view text) const override {
    auto at = text.find("{% bad");
    if (at == std::string_view::npos) return std::nullopt;
    return InlineError{at, "unknown tag 'bad'"};
  }

 private:
  std::map<std::string, std::vector<std::string>> sections_;
};

}  // namespace herald::workflows::testing
