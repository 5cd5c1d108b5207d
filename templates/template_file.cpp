#include "templates/template_file.hpp"

#include <yaml-cpp/yaml.h>

#include <set>

#include "templates/yaml_scalar.hpp"

namespace herald::templates {

std::optional<Channel> channel_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kChannelCount; ++i) {
    if (kChannelNames[i] == name) return static_cast<Channel>(i);
  }
  return std::nullopt;
}

const Field* Section::field(std::string_view key) const {
  for (const Field& f : fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

namespace {

class FileCompiler {
 public:
  FileCompiler(const std::string& path, std::string_view text, std::vector<LoadError>& errors)
      : path_(path), index_(text), errors_(errors) {}

  bool ok() const { return count_ == 0; }

  void error_at(const YAML::Mark& mark, std::string message) {
    SourcePos p = mark.pos >= 0 ? index_.at(static_cast<std::size_t>(mark.pos))
                                : SourcePos{mark.line + 1, mark.column + 1};
    errors_.push_back({path_, p.line, p.column, std::move(message)});
    ++count_;
  }

  std::optional<YAML::Node> parse() {
    try {
      return YAML::Load(std::string(index_.text()));
    } catch (const YAML::Exception& e) {
      error_at(e.mark, e.msg);
      return std::nullopt;
    }
  }

  // Walks a mapping: checks each key is allowed and appears once, then calls visit(key, value).
  template <typename Visit>
  bool each_key(const YAML::Node& map, std::string_view what,
                std::initializer_list<std::string_view> allowed, Visit visit) {
    if (!map.IsMap()) {
      error_at(map.Mark(), std::string(what) + " must be a mapping");
      return false;
    }
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) {
        error_at(it->first.Mark(), "keys of " + std::string(what) + " must be names");
        continue;
      }
      std::string key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        error_at(it->first.Mark(),
                 "unknown key '" + key + "' in " + std::string(what) + " (expected " + list + ")");
        continue;
      }
      if (!seen.insert(key).second) {
        error_at(it->first.Mark(), "duplicate key '" + key + "' in " + std::string(what));
        continue;
      }
      visit(key, it->first, it->second);
    }
    return true;
  }

  std::optional<std::string> literal(const YAML::Node& node, std::string_view what) {
    if (!node.IsScalar()) {
      error_at(node.Mark(), std::string(what) + " must be a string");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<Field> liquid(const YAML::Node& node, std::string key, bool html) {
    if (!node.IsScalar()) {
      error_at(node.Mark(), "'" + key + "' must be a string (a Liquid template)");
      return std::nullopt;
    }
    const std::string& source = node.Scalar();
    auto positions = std::make_shared<ScalarPositions>(
        index_, static_cast<std::size_t>(std::max(0, node.Mark().pos)), source);
    LiquidTemplate::Options options;
    options.html_escape = html;
    options.file = path_;
    options.position = [positions](std::size_t offset) { return positions->at(offset); };
    std::size_t before = errors_.size();
    auto compiled = LiquidTemplate::compile(source, options, errors_);
    count_ += static_cast<int>(errors_.size() - before);
    if (!compiled) return std::nullopt;
    return Field{std::move(key), std::move(*compiled), positions->at(0)};
  }

  void require(bool present, const YAML::Node& section, std::string message) {
    if (!present) error_at(section.Mark(), std::move(message));
  }

  Section email(const YAML::Node& node) {
    Section s;
    s.channel = Channel::kEmail;
    each_key(node, "email", {"subject", "html", "text"},
             [&](const std::string& key, auto&, auto& value) {
               if (auto f = liquid(value, key, key == "html")) s.fields.push_back(std::move(*f));
             });
    // Keep the output order subject, html, text whatever the file's order.
    std::stable_sort(s.fields.begin(), s.fields.end(), [](const Field& a, const Field& b) {
      auto rank = [](const std::string& k) { return k == "subject" ? 0 : k == "html" ? 1 : 2; };
      return rank(a.key) < rank(b.key);
    });
    if (node.IsMap()) {
      require(node["subject"].IsDefined(), node, "email needs a 'subject'");
      require(node["html"].IsDefined() || node["text"].IsDefined(), node,
              "email needs 'html' or 'text'");
    }
    return s;
  }

  Section single(const YAML::Node& node, Channel channel, const std::string& key) {
    Section s;
    s.channel = channel;
    std::string what(kChannelNames[static_cast<std::size_t>(channel)]);
    each_key(node, what, {key}, [&](const std::string& k, auto&, auto& value) {
      if (auto f = liquid(value, k, false)) s.fields.push_back(std::move(*f));
    });
    if (node.IsMap()) require(node[key].IsDefined(), node, what + " needs '" + key + "'");
    return s;
  }

  Section whatsapp(const YAML::Node& node) {
    Section s;
    s.channel = Channel::kWhatsapp;
    each_key(
        node, "whatsapp", {"text", "template"}, [&](const std::string& key, auto&, auto& value) {
          if (key == "text") {
            if (auto f = liquid(value, key, false)) s.fields.push_back(std::move(*f));
            return;
          }
          s.has_template_message = true;
          each_key(value, "whatsapp.template", {"name", "language", "params"},
                   [&](const std::string& k, auto&, auto& v) {
                     if (k == "params") {
                       if (!v.IsSequence()) {
                         error_at(v.Mark(), "whatsapp.template.params must be a list");
                         return;
                       }
                       for (std::size_t i = 0; i < v.size(); ++i) {
                         if (auto f = liquid(v[i], std::to_string(i + 1), false))
                           s.message_values.push_back(std::move(*f));
                       }
                     } else if (auto text = literal(v, "whatsapp.template." + k)) {
                       (k == "name" ? s.message_name : s.message_language) = *text;
                     }
                   });
          if (value.IsMap()) {
            require(value["name"].IsDefined(), value, "whatsapp.template needs 'name'");
            require(value["language"].IsDefined(), value, "whatsapp.template needs 'language'");
          }
        });
    if (node.IsMap())
      require(node["text"].IsDefined() || node["template"].IsDefined(), node,
              "whatsapp needs 'text' or 'template'");
    return s;
  }

  Section wechat(const YAML::Node& node) {
    Section s;
    s.channel = Channel::kWechat;
    each_key(node, "wechat", {"text", "template"}, [&](const std::string& key, auto&, auto& value) {
      if (key == "text") {
        if (auto f = liquid(value, key, false)) s.fields.push_back(std::move(*f));
        return;
      }
      s.has_template_message = true;
      each_key(value, "wechat.template", {"id", "url", "data"},
               [&](const std::string& k, auto&, auto& v) {
                 if (k == "id") {
                   if (auto text = literal(v, "wechat.template.id")) s.message_name = *text;
                 } else if (k == "url") {
                   if (auto f = liquid(v, k, false)) s.message_url = std::move(*f);
                 } else {
                   each_key_any(v, "wechat.template.data",
                                [&](const std::string& dk, const YAML::Node& dv) {
                                  if (auto f = liquid(dv, dk, false))
                                    s.message_values.push_back(std::move(*f));
                                });
                 }
               });
      if (value.IsMap()) require(value["id"].IsDefined(), value, "wechat.template needs 'id'");
    });
    if (node.IsMap())
      require(node["text"].IsDefined() || node["template"].IsDefined(), node,
              "wechat needs 'text' or 'template'");
    return s;
  }

  template <typename Visit>
  void each_key_any(const YAML::Node& map, std::string_view what, Visit visit) {
    if (!map.IsMap()) {
      error_at(map.Mark(), std::string(what) + " must be a mapping");
      return;
    }
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (key.empty() || !seen.insert(key).second) {
        error_at(it->first.Mark(), key.empty()
                                       ? "keys of " + std::string(what) + " must be names"
                                       : "duplicate key '" + key + "' in " + std::string(what));
        continue;
      }
      visit(key, it->second);
    }
  }

 private:
  const std::string& path_;
  LineIndex index_;
  std::vector<LoadError>& errors_;
  int count_ = 0;
};

}  // namespace

std::optional<TemplateFile> compile_template_file(const std::string& path, std::string_view text,
                                                  const std::string& name,
                                                  const std::string& locale,
                                                  std::vector<LoadError>& errors) {
  FileCompiler c(path, text, errors);
  auto root = c.parse();
  if (!root) return std::nullopt;
  TemplateFile file{path, name, locale, {}};
  if (root->IsNull()) {
    c.error_at(root->Mark(), "empty template file: expected sections such as 'email' or 'sms'");
    return std::nullopt;
  }
  c.each_key(*root, "a template file", {"template", "email", "sms", "whatsapp", "wechat", "social"},
             [&](const std::string& key, const YAML::Node&, const YAML::Node& value) {
               if (key == "template") {
                 auto declared = c.literal(value, "'template'");
                 if (declared && *declared != name) {
                   c.error_at(value.Mark(), "template is named '" + *declared +
                                                "' but its file name says '" + name + "'");
                 }
                 return;
               }
               Channel channel = *channel_from_name(key);
               Section section;
               switch (channel) {
                 case Channel::kEmail:
                   section = c.email(value);
                   break;
                 case Channel::kSms:
                   section = c.single(value, channel, "body");
                   break;
                 case Channel::kWhatsapp:
                   section = c.whatsapp(value);
                   break;
                 case Channel::kWechat:
                   section = c.wechat(value);
                   break;
                 case Channel::kSocial:
                   section = c.single(value, channel, "text");
                   break;
               }
               file.sections[static_cast<std::size_t>(channel)] = std::move(section);
             });
  if (!c.ok()) return std::nullopt;
  return file;
}

}  // namespace herald::templates
