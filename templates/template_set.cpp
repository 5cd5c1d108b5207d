#include "templates/template_set.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "templates/html_to_text.hpp"
#include "templates/sms_segments.hpp"
#include "templates/template_file.hpp"

namespace herald::templates {

struct TemplateSet::Impl {
  Limits limits;
  // By name; [0] is the default variant, the others translations.
  std::map<std::string, std::vector<std::shared_ptr<const TemplateFile>>, std::less<>> templates;
};

namespace {

namespace fs = std::filesystem;

std::string normalize_locale(std::string_view locale) {
  std::string out(locale);
  for (char& c : out) {
    c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

bool valid_locale(std::string_view locale) {
  // A language of 2-3 letters, then subtags of 2-8 letters or digits.
  std::size_t i = 0;
  while (i < locale.size() && std::isalpha(static_cast<unsigned char>(locale[i]))) ++i;
  if (i < 2 || i > 3) return false;
  while (i < locale.size()) {
    if (locale[i] != '-' && locale[i] != '_') return false;
    std::size_t start = ++i;
    while (i < locale.size() && std::isalnum(static_cast<unsigned char>(locale[i]))) ++i;
    if (i - start < 2 || i - start > 8) return false;
  }
  return true;
}

bool is_template_path(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

// "cart_reminder.fr-CA.yaml" -> {"cart_reminder", "fr-CA"}.
std::pair<std::string, std::string> split_file_name(const fs::path& p) {
  std::string stem = p.stem().string();
  auto dot = stem.find('.');
  if (dot == std::string::npos) return {stem, ""};
  return {stem.substr(0, dot), stem.substr(dot + 1)};
}

std::optional<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

void load_files(const std::vector<fs::path>& paths, TemplateSet::Impl& impl,
                std::vector<LoadError>& errors) {
  std::map<std::string, std::map<std::string, std::shared_ptr<const TemplateFile>>> by_name;
  std::map<std::string, std::string> first_path;
  for (const fs::path& p : paths) {
    const std::string path = p.string();
    auto [name, locale] = split_file_name(p);
    if (!valid_name(name)) {
      errors.push_back({path, 1, 1,
                        "template file names are NAME.yaml or NAME.LOCALE.yaml, NAME of letters, "
                        "digits, '_' and '-'"});
      continue;
    }
    if (!locale.empty() && !valid_locale(locale)) {
      errors.push_back(
          {path, 1, 1, "'" + locale + "' is not a locale (expected fr, fr-CA, pt-BR, ...)"});
      continue;
    }
    auto text = read_file(p);
    if (!text) {
      errors.push_back({path, 1, 1, "cannot read the file"});
      continue;
    }
    std::string key = normalize_locale(locale);
    auto file = compile_template_file(path, *text, name, key, errors);
    if (!file) continue;
    auto& variants = by_name[name];
    if (variants.count(key)) {
      errors.push_back({path, 1, 1,
                        "another file already defines template '" + name + "'" +
                            (key.empty() ? "" : " for locale " + locale)});
      continue;
    }
    variants[key] = std::make_shared<const TemplateFile>(std::move(*file));
    first_path.emplace(name, path);
  }
  for (auto& [name, variants] : by_name) {
    auto def = variants.find("");
    if (def == variants.end()) {
      errors.push_back({variants.begin()->second->path, 1, 1,
                        "translation without a default: add " + name + ".yaml beside it"});
      continue;
    }
    std::vector<std::shared_ptr<const TemplateFile>> list{def->second};
    for (auto& [locale, file] : variants) {
      if (!locale.empty()) list.push_back(file);
    }
    impl.templates.emplace(name, std::move(list));
  }
}

std::vector<fs::path> yaml_files_in(const fs::path& dir) {
  std::vector<fs::path> paths;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && is_template_path(entry.path())) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::shared_ptr<TemplateSet::Impl> load_dir(const fs::path& dir, Limits limits,
                                            std::vector<LoadError>& errors) {
  auto impl = std::make_shared<TemplateSet::Impl>();
  impl->limits = std::move(limits);
  if (!fs::is_directory(dir)) {
    errors.push_back({dir.string(), 0, 0, "not a folder"});
    return impl;
  }
  load_files(yaml_files_in(dir), *impl, errors);
  return impl;
}

std::shared_ptr<TemplateSet::Impl> load_one(const fs::path& file, Limits limits,
                                            std::vector<LoadError>& errors) {
  auto impl = std::make_shared<TemplateSet::Impl>();
  impl->limits = std::move(limits);
  if (!fs::is_regular_file(file)) {
    errors.push_back({file.string(), 0, 0, "no such file"});
    return impl;
  }
  std::string name = split_file_name(file).first;
  fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  std::vector<fs::path> siblings;
  for (const fs::path& p : yaml_files_in(dir)) {
    if (split_file_name(p).first == name) siblings.push_back(p);
  }
  load_files(siblings, *impl, errors);
  return impl;
}

// --- rendering

[[noreturn]] void not_found(TemplateError::Kind kind, std::string message) {
  throw TemplateError(kind, "", 0, 0, std::move(message));
}

std::string render_field(const Field& field, RenderState& state) {
  std::string out;
  out.reserve(256);
  field.liquid.render(state, out);
  return out;
}

// A subject is one header line: line breaks in it (from data, say) become spaces.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(' ') - first + 1);
}

RenderedContent render_email(const Section& s, RenderState& state) {
  RenderedContent out = RenderedContent::object();
  const Field* subject = s.field("subject");
  const Field* html = s.field("html");
  const Field* text = s.field("text");
  out["subject"] = subject ? one_line(render_field(*subject, state)) : std::string();
  std::string html_out;
  if (html) {
    html_out = render_field(*html, state);
    out["html"] = html_out;
  }
  out["text"] = text ? render_field(*text, state) : html_to_text(html_out);
  return out;
}

RenderedContent render_sms(const Section& s, RenderState& state, const std::string& file) {
  const Field& body = s.fields.front();
  std::string text = render_field(body, state);
  SmsSegments count = count_sms_segments(text);
  if (count.segments > state.limits.max_sms_segments) {
    throw TemplateError(TemplateError::Kind::kSmsSegments, file, body.pos.line, body.pos.column,
                        "the SMS body needs " + std::to_string(count.segments) + " segments (" +
                            std::to_string(count.units) + " " +
                            (count.encoding == SmsSegments::Encoding::kGsm7 ? "GSM-7 septets"
                                                                            : "UCS-2 code units") +
                            "), more than channels.sms.max_segments (" +
                            std::to_string(state.limits.max_sms_segments) + ")");
  }
  RenderedContent out = RenderedContent::object();
  out.get_ref<RenderedContent::object_t&>().reserve(3);
  out["body"] = std::move(text);
  out["segments"] = count.segments;
  out["encoding"] = count.encoding_name();
  return out;
}

RenderedContent render_messaging(const Section& s, RenderState& state) {
  RenderedContent out = RenderedContent::object();
  if (const Field* text = s.field("text")) out["text"] = render_field(*text, state);
  if (!s.has_template_message) return out;
  RenderedContent message = RenderedContent::object();
  if (s.channel == Channel::kWhatsapp) {
    message["name"] = s.message_name;
    message["language"] = s.message_language;
    message["params"] = RenderedContent::array();
    for (const Field& p : s.message_values) message["params"].push_back(render_field(p, state));
  } else {
    message["id"] = s.message_name;
    if (s.message_url) message["url"] = render_field(*s.message_url, state);
    message["data"] = RenderedContent::object();
    for (const Field& d : s.message_values) message["data"][d.key] = render_field(d, state);
  }
  out["template"] = std::move(message);
  return out;
}

std::string context_locale(const nlohmann::ordered_json& context) {
  if (!context.is_object()) return {};
  auto customer = context.find("customer");
  if (customer == context.end() || !customer->is_object()) return {};
  auto locale = customer->find("locale");
  return locale != customer->end() && locale->is_string() ? locale->get<std::string>()
                                                          : std::string();
}

}  // namespace

const std::vector<std::string>& channel_names() {
  static const std::vector<std::string> kNames(kChannelNames.begin(), kChannelNames.end());
  return kNames;
}

TemplateSet::TemplateSet() : impl_(std::make_shared<Impl>()) {}

TemplateSet TemplateSet::load(const fs::path& dir, Limits limits) {
  std::vector<LoadError> errors;
  auto impl = load_dir(dir, std::move(limits), errors);
  if (!errors.empty()) throw TemplateLoadError(std::move(errors));
  return TemplateSet(std::move(impl));
}

TemplateSet TemplateSet::load_template_file(const fs::path& file, Limits limits) {
  std::vector<LoadError> errors;
  auto impl = load_one(file, std::move(limits), errors);
  if (!errors.empty()) throw TemplateLoadError(std::move(errors));
  return TemplateSet(std::move(impl));
}

std::vector<LoadError> TemplateSet::check(const fs::path& path) {
  std::vector<LoadError> errors;
  if (fs::is_directory(path)) {
    load_dir(path, {}, errors);
  } else {
    load_one(path, {}, errors);
  }
  return errors;
}

bool TemplateSet::has(std::string_view name) const {
  return impl_->templates.find(name) != impl_->templates.end();
}

std::vector<std::string> TemplateSet::names() const {
  std::vector<std::string> out;
  for (const auto& [name, variants] : impl_->templates) out.push_back(name);
  return out;
}

std::vector<std::string> TemplateSet::channels(std::string_view name) const {
  std::vector<std::string> out;
  auto it = impl_->templates.find(name);
  if (it == impl_->templates.end()) return out;
  for (std::size_t i = 0; i < kChannelCount; ++i) {
    if (it->second.front()->sections[i]) out.emplace_back(kChannelNames[i]);
  }
  return out;
}

bool TemplateSet::has_channel(std::string_view name, std::string_view channel) const {
  auto list = channels(name);
  return std::find(list.begin(), list.end(), channel) != list.end();
}

const Limits& TemplateSet::limits() const {
  return impl_->limits;
}

RenderedContent TemplateSet::render(std::string_view name, std::string_view channel,
                                    std::string_view locale,
                                    const nlohmann::ordered_json& context) const {
  auto it = impl_->templates.find(name);
  if (it == impl_->templates.end())
    not_found(TemplateError::Kind::kNotFound, "no template '" + std::string(name) + "'");
  auto ch = channel_from_name(channel);
  if (!ch)
    not_found(TemplateError::Kind::kNoSection, "unknown channel '" + std::string(channel) + "'");
  const auto& variants = it->second;
  auto index = static_cast<std::size_t>(*ch);

  // fr-CA, then fr, then the default; a variant without this channel falls through.
  std::string wanted =
      normalize_locale(locale.empty() ? context_locale(context) : std::string(locale));
  const TemplateFile* chosen = nullptr;
  while (!wanted.empty() && !chosen) {
    for (std::size_t v = 1; v < variants.size(); ++v) {
      if (variants[v]->locale == wanted && variants[v]->sections[index]) chosen = variants[v].get();
    }
    auto dash = wanted.rfind('-');
    wanted = dash == std::string::npos ? std::string() : wanted.substr(0, dash);
  }
  if (!chosen && variants.front()->sections[index]) chosen = variants.front().get();
  if (!chosen) {
    not_found(TemplateError::Kind::kNoSection,
              "template '" + std::string(name) + "' has no '" + std::string(channel) + "' section");
  }
  const Section& section = *chosen->sections[index];
  RenderState state(context, impl_->limits);
  switch (*ch) {
    case Channel::kEmail:
      return render_email(section, state);
    case Channel::kSms:
      return render_sms(section, state, chosen->path);
    case Channel::kWhatsapp:
    case Channel::kWechat:
      return render_messaging(section, state);
    case Channel::kSocial: {
      RenderedContent out = RenderedContent::object();
      out["text"] = render_field(section.fields.front(), state);
      return out;
    }
  }
  return {};
}

}  // namespace herald::templates
