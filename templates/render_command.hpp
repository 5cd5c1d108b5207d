#pragma once

#include <filesystem>
#include <iostream>
#include <string>

#include "templates/limits.hpp"

namespace herald::templates {

/// `herald render TEMPLATE --channel CH --context FILE.json [--locale L] [--field NAME]`.
struct RenderOptions {
  std::string template_name;           ///< a name in templates_dir, or a path to a .yaml
  std::string channel;                 ///< email, sms, whatsapp, wechat, social
  std::filesystem::path context_file;  ///< {"customer": {...}, "event": {...}, "data": {...}}
  std::string locale;                  ///< empty: the context's customer.locale
  std::string field;  ///< empty: the whole JSON; else that field raw (dots for nesting)
  std::filesystem::path templates_dir = "./templates";  ///< the config's templates_dir
  Limits limits;  ///< the config's templates.* and sms max_segments
  std::ostream* out = &std::cout;
  std::ostream* err = &std::cerr;
};

/// Prints the rendered section as the preview API's JSON, or one field of it
/// as raw text. Returns the exit code: 0 ok, 1 failure (template errors, as
/// `FILE:LINE:COLUMN: error: MESSAGE` lines on err), 2 bad usage.
int run_render(const RenderOptions& options);

}  // namespace herald::templates
