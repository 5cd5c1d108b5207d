// Inputs that crashed or hung the parser or renderer, kept as regular tests:
// those the libFuzzer target (tests/fuzz/templates) finds go here, next to
// edge cases found by reading the code the fuzzer had not reached.

#include <catch2/catch.hpp>

#include "templates/liquid/liquid_template.hpp"

using namespace herald::templates;

TEST_CASE("fuzz regressions", "[templates][fuzz]") {
  const char* inputs[] = {
      "{{",
      "{%",
      "{% raw %}",
      "{%-raw-%}{%-endraw-%}",
      "{{ a[ }}",
      "{{ (1.. }}",
      "{% for %}",
      "{% case %}{% when %}{% endcase %}",
      // Found by review: a range wider than int64 (signed overflow), a year
      // shorter than 3 digits under %y (std::out_of_range), huge epochs.
      "{% for i in (-9000000000000000000..9000000000000000000) reversed %}{{ i }}{% endfor %}",
      "{% for i in (-9000000000000000000..9000000000000000000) offset: 9000000000000000000 %}{{ i "
      "}}{% endfor %}",
      "{{ '0005-01-01' | date: '%y %C %Y' }}",
      "{{ 99999999999999 | date: '%Y' }}{{ '99999999999' | date: '%Y' }}",
      "{{ 1 | round: 400 }}{{ 1.5 | round: -400 }}{{ 9223372036854775807 | plus: 1 }}",
      "{{ -9223372036854775807 | minus: 9 | divided_by: -1 }}",
  };
  for (const char* input : inputs) {
    INFO(input);
    std::vector<LoadError> errors;
    auto t = LiquidTemplate::compile(input, {}, errors);
    if (t) {
      try {
        t->render(Json::object(), Limits{});
      } catch (const TemplateError&) {
        // bounds are fine; anything else fails the test
      }
    }
  }
}

TEST_CASE("a range wider than int64 iterates correctly", "[templates][fuzz]") {
  std::vector<LoadError> errors;
  auto t = LiquidTemplate::compile(
      "{% for i in (-9000000000000000000..9000000000000000000) reversed limit: 2 %}{{ i }} {% "
      "endfor %}|"
      "{% for i in (-9000000000000000000..9000000000000000000) offset: 9000000000000000000 limit: "
      "2 %}{{ i }} {% endfor %}",
      {}, errors);
  REQUIRE(t);
  CHECK(t->render(Json::object(), Limits{}) == "-8999999999999999999 -9000000000000000000 |0 1 ");
}

TEST_CASE("%y of a year under 100 is empty, as liquidjs", "[templates][fuzz]") {
  std::vector<LoadError> errors;
  auto t = LiquidTemplate::compile("[{{ '0005-01-01' | date: '%y' }}]", {}, errors);
  REQUIRE(t);
  CHECK(t->render(Json::object(), Limits{}) == "[]");
}
