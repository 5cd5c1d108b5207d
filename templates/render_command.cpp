#include "templates/render_command.hpp"

#include <fstream>
#include <sstream>

#include "templates/template_set.hpp"

namespace herald::templates {
namespace {

bool looks_like_path(const std::string& s) {
  auto ends_with = [&](std::string_view suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".yaml") || ends_with(".yml") || s.find('/') != std::string::npos;
}

// The locale of a translation file named on the command line (cart_reminder.fr.yaml).
std::string locale_of_path(const std::filesystem::path& p) {
  std::string stem = p.stem().string();
  auto dot = stem.find('.');
  return dot == std::string::npos ? std::string() : stem.substr(dot + 1);
}

}  // namespace

int run_render(const RenderOptions& o) {
  std::ostream& err = *o.err;
  if (o.template_name.empty()) {
    err << "herald render: TEMPLATE is required\n";
    return 2;
  }
  const auto& names = channel_names();
  if (std::find(names.begin(), names.end(), o.channel) == names.end()) {
    err << "herald render: --channel must be one of email, sms, whatsapp, wechat, social (got '"
        << o.channel << "')\n";
    return 2;
  }
  if (o.context_file.empty()) {
    err << "herald render: --context FILE.json is required\n";
    return 2;
  }

  nlohmann::ordered_json context;
  {
    std::ifstream in(o.context_file, std::ios::binary);
    if (!in) {
      err << o.context_file.string() << ": cannot read the context file\n";
      return 1;
    }
    try {
      context = nlohmann::ordered_json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      err << o.context_file.string() << ": not JSON: " << e.what() << "\n";
      return 1;
    }
    if (!context.is_object()) {
      err << o.context_file.string() << ": the context must be a JSON object\n";
      return 1;
    }
  }

  std::string name = o.template_name;
  std::string locale = o.locale;
  try {
    TemplateSet set;
    if (looks_like_path(name)) {
      std::filesystem::path path(name);
      set = TemplateSet::load_template_file(path, o.limits);
      if (locale.empty()) locale = locale_of_path(path);
      name = path.stem().string().substr(0, path.stem().string().find('.'));
    } else {
      set = TemplateSet::load(o.templates_dir, o.limits);
    }
    if (!set.has(name)) {
      err << "herald render: no template '" << name << "' in " << o.templates_dir.string() << "\n";
      return 1;
    }
    RenderedContent content = set.render(name, o.channel, locale, context);
    if (o.field.empty()) {
      *o.out << content.dump(2) << "\n";
      return 0;
    }
    const RenderedContent* value = &content;
    std::stringstream path(o.field);
    for (std::string part; std::getline(path, part, '.');) {
      if (value->is_object() && value->contains(part)) {
        value = &(*value)[part];
      } else if (value->is_array() && !part.empty() && part.size() <= 9 &&
                 part.find_first_not_of("0123456789") == std::string::npos &&
                 std::stoul(part) < value->size()) {
        value = &(*value)[std::stoul(part)];
      } else {
        std::string fields;
        for (const auto& [key, _] : content.items()) fields += (fields.empty() ? "" : ", ") + key;
        err << "herald render: no field '" << o.field << "' in the " << o.channel
            << " output (fields: " << fields << ")\n";
        return 1;
      }
    }
    if (value->is_string()) {
      *o.out << value->get<std::string>();
    } else {
      *o.out << value->dump(2) << "\n";
    }
    return 0;
  } catch (const TemplateLoadError& e) {
    for (const LoadError& error : e.errors()) err << error.to_string() << "\n";
    return 1;
  } catch (const TemplateError& e) {
    if (e.line() > 0) {
      err << e.file() << ":" << e.line() << ":" << e.column() << ": error: " << e.message() << "\n";
    } else {
      err << "herald render: " << e.message() << "\n";
    }
    return 1;
  }
}

}  // namespace herald::templates
