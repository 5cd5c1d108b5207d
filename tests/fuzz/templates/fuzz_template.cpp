// libFuzzer target: template sources through the parser and the renderer.
// An input starting with 'Y' is a whole template file (YAML), anything else a
// Liquid source rendered against a fixed context. Every crash found becomes a
// case in tests/templates/fuzz_regressions_test.cpp.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "templates/liquid/liquid_template.hpp"
#include "templates/template_file.hpp"

using namespace herald::templates;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Json kContext = Json::parse(R"({
    "customer": {"first_name": "Ada", "tags": ["a", "b"], "score": 7, "timezone": "Europe/Paris"},
    "event": {"timestamp": "2024-03-05T14:07:09Z", "properties": {"items": [{"name": "x", "price": 1.5}],
              "currency": "EUR"}},
    "data": {"n": null, "o": {"k": "v"}, "s": "a,b,c"}
  })");
  static const Limits kLimits = [] {
    Limits l;
    l.max_iterations = 200;
    l.max_output_bytes = 20000;
    return l;
  }();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<LoadError> errors;
  if (!input.empty() && input[0] == 'Y') {
    auto file = compile_template_file("fuzz.yaml", input.substr(1), "fuzz", "", errors);
    for (const LoadError& e : errors) {
      if (e.line < 0 || e.column < 0) __builtin_trap();
    }
    return 0;
  }
  LiquidTemplate::Options options;
  options.html_escape = size % 2 == 0;
  auto compiled = LiquidTemplate::compile(input, options, errors);
  if (!compiled) return 0;
  try {
    compiled->render(kContext, kLimits);
  } catch (const TemplateError&) {
  }
  return 0;
}
