// The Liquid engine beyond the conformance corpus: compile errors with their
// positions, bounds, the customer's time zone, and rendering without state.

#include <catch2/catch.hpp>

#include <thread>

#include "templates/liquid/liquid_template.hpp"

using namespace herald::templates;

namespace {

std::vector<LoadError> compile_errors(std::string_view source) {
  std::vector<LoadError> errors;
  LiquidTemplate::Options options;
  options.file = "t.liquid";
  auto t = LiquidTemplate::compile(source, options, errors);
  CHECK_FALSE(t.has_value());
  return errors;
}

LiquidTemplate compile(std::string_view source, bool html = false) {
  std::vector<LoadError> errors;
  LiquidTemplate::Options options;
  options.file = "t.liquid";
  options.html_escape = html;
  auto t = LiquidTemplate::compile(source, options, errors);
  INFO((errors.empty() ? std::string() : errors.front().to_string()));
  REQUIRE(t.has_value());
  return *t;
}

std::string render(std::string_view source, const Json& context = Json::object(),
                   Limits limits = {}) {
  return compile(source).render(context, limits);
}

}  // namespace

TEST_CASE("unknown filters are load errors at the filter's line and column",
          "[templates][liquid]") {
  auto errors = compile_errors("Hi\n  {{ name | upcase | shout }}");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].file == "t.liquid");
  CHECK(errors[0].line == 2);
  CHECK(errors[0].column == 22);
  CHECK(errors[0].message == "unknown filter 'shout'");
}

TEST_CASE("every unknown filter of a template is reported", "[templates][liquid]") {
  auto errors = compile_errors("{{ a | one }} {{ b | two }}");
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].column == 8);
  CHECK(errors[1].column == 22);
}

TEST_CASE("syntax errors carry positions", "[templates][liquid]") {
  SECTION("unclosed output") {
    auto e = compile_errors("ab {{ x");
    REQUIRE(e.size() == 1);
    CHECK(e[0].column == 4);
    CHECK(e[0].message == "'{{' is not closed by '}}'");
  }
  SECTION("unclosed block tag points at the opening tag") {
    auto e = compile_errors("x\n{% if a %}\n{% for i in b %}{% endfor %}");
    REQUIRE(e.size() == 1);
    CHECK(e[0].line == 2);
    CHECK(e[0].column == 1);
    CHECK(e[0].message == "'if' is not closed by 'endif'");
  }
  SECTION("unknown tag") {
    auto e = compile_errors("{% cycle 'a', 'b' %}");
    REQUIRE(e.size() == 1);
    CHECK(e[0].message == "unknown tag 'cycle'");
  }
  SECTION("stray end tag") {
    CHECK(compile_errors("a {% endif %}")[0].message == "unexpected 'endif'");
  }
  SECTION("bad expression") {
    auto e = compile_errors("{{ a | append: }}");
    REQUIRE(e.size() == 1);
    CHECK(e[0].column == 15);  // where a value was expected
  }
  SECTION("wrong number of filter arguments") {
    CHECK(compile_errors("{{ a | replace: 'x' }}")[0].message ==
          "filter 'replace' takes 2 arguments, got 1");
    CHECK(compile_errors("{{ a | upcase: 1 }}")[0].message ==
          "filter 'upcase' takes 0 arguments, got 1");
  }
  SECTION("unknown keyword argument") {
    CHECK(compile_errors("{{ a | default: 1, strict: true }}")[0].message ==
          "filter 'default' has no argument 'strict'");
  }
  SECTION("break outside a loop") {
    CHECK(compile_errors("{% break %}")[0].message == "'break' outside a 'for' loop");
  }
  SECTION("unterminated string") {
    CHECK(compile_errors("{{ 'abc }}")[0].message == "unterminated string");
  }
  SECTION("raw without endraw") {
    CHECK(compile_errors("{% raw %}x")[0].message == "'raw' is not closed by 'endraw'");
  }
  SECTION("deep nesting is refused, not a stack overflow") {
    std::string deep;
    for (int i = 0; i < 200; ++i) deep += "{% if a %}";
    CHECK(compile_errors(deep)[0].message == "tags are nested too deeply");
  }
}

TEST_CASE("loops are bounded by max_iterations across the whole render",
          "[templates][liquid][limits]") {
  Limits limits;
  limits.max_iterations = 100;
  CHECK(render("{% for i in (1..100) %}.{% endfor %}", {}, limits).size() == 100);
  SECTION("one long loop") {
    try {
      render("ok\n  {% for i in (1..1000000000) %}{{ i }}{% endfor %}", {}, limits);
      FAIL("no error");
    } catch (const TemplateError& e) {
      CHECK(e.kind() == TemplateError::Kind::kIterationLimit);
      CHECK(e.line() == 2);
      CHECK(e.column() == 3);
      CHECK(e.message() == "loop iterations exceed templates.max_iterations (100)");
    }
  }
  SECTION("nested loops count together") {
    CHECK_THROWS_AS(
        render("{% for a in (1..11) %}{% for b in (1..10) %}{% endfor %}{% endfor %}", {}, limits),
        TemplateError);
  }
  SECTION("separate loops count together") {
    CHECK_THROWS_AS(
        render("{% for a in (1..60) %}{% endfor %}{% for b in (1..60) %}{% endfor %}", {}, limits),
        TemplateError);
  }
}

TEST_CASE("output is bounded by max_output_bytes", "[templates][liquid][limits]") {
  Limits limits;
  limits.max_output_bytes = 1000;
  Json context{{"s", std::string(400, 'x')}};
  CHECK(render("{{ s }}{{ s }}", context, limits).size() == 800);
  SECTION("text and outputs") {
    try {
      render("{{ s }}{{ s }}{{ s }}", context, limits);
      FAIL("no error");
    } catch (const TemplateError& e) {
      CHECK(e.kind() == TemplateError::Kind::kOutputLimit);
      CHECK(e.column() == 15);
    }
  }
  SECTION("a string doubling in assigns never reaches the output, still refused") {
    CHECK_THROWS_AS(
        render(
            "{% assign s = 'ab' %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}",
            context, limits),
        TemplateError);
  }
  SECTION("captures are bounded too") {
    CHECK_THROWS_AS(render("{% capture c %}{{ s }}{{ s }}{{ s }}{% endcapture %}", context, limits),
                    TemplateError);
  }
}

TEST_CASE("date formats in customer.timezone, else the default zone", "[templates][liquid][date]") {
  Json context = {{"customer", {{"timezone", "Asia/Tokyo"}}}, {"t", "2024-01-01T20:30:00Z"}};
  CHECK(render("{{ t | date: '%Y-%m-%d %H:%M %Z' }}", context) == "2024-01-02 05:30 JST");
  Limits limits;
  limits.default_timezone = "America/Los_Angeles";
  CHECK(render("{{ t | date: '%H:%M %z' }}", {{"t", "2024-01-01T20:30:00Z"}}, limits) ==
        "12:30 -0800");
  SECTION("an unknown customer zone falls back to the default") {
    Json bad = {{"customer", {{"timezone", "Mars/Olympus"}}}, {"t", "2024-01-01T20:30:00Z"}};
    CHECK(render("{{ t | date: '%H:%M' }}", bad, limits) == "12:30");
  }
  SECTION("a zone argument wins") {
    CHECK(render("{{ t | date: '%H:%M', 'Europe/London' }}", context) == "20:30");
  }
  SECTION("'now' is the context's now when it has one") {
    Json with_now = {{"now", "2030-06-15T08:00:00Z"}};
    CHECK(render("{{ 'now' | date: '%Y-%m-%d' }}", with_now) == "2030-06-15");
  }
}

TEST_CASE("a compiled template renders the same from many threads", "[templates][liquid]") {
  auto t = compile(
      "{% for i in items %}{{ i | upcase }}{% unless forloop.last %},{% endunless %}{% endfor %}");
  Json context{{"items", {"a", "b", "c"}}};
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int n = 0; n < 4; ++n) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (t.render(context, Limits{}) != "A,B,C") ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
}

TEST_CASE("a loop over a variable reassigned in its body is safe", "[templates][liquid]") {
  CHECK(render("{% assign xs = 'a,b,c' | split: ',' %}{% for x in xs %}{{ x }}{% assign xs = 'z' "
               "%}{% endfor %}{{ xs }}") == "abcz");
}

TEST_CASE("html auto-escape applies to outputs, not to text", "[templates][liquid]") {
  Json context{{"name", "<i>Al & Bo</i>"}};
  CHECK(compile("<p>{{ name }}</p>", true).render(context, {}) ==
        "<p>&lt;i&gt;Al &amp; Bo&lt;/i&gt;</p>");
  CHECK(compile("<p>{{ name | raw }}</p>", true).render(context, {}) == "<p><i>Al & Bo</i></p>");
  CHECK(compile("<p>{{ name }}</p>", false).render(context, {}) == "<p><i>Al & Bo</i></p>");
}

TEST_CASE("a context that is not an object renders variables empty", "[templates][liquid]") {
  CHECK(render("[{{ a.b }}]", Json::array({1, 2})) == "[]");
  CHECK(render("[{{ a }}]", Json()) == "[]");
}
