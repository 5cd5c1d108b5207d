// `herald render`: output, --field, exit codes.

#include <catch2/catch.hpp>

#include <sstream>

#include <nlohmann/json.hpp>

#include "templates/render_command.hpp"
#include "test_files.hpp"

using namespace herald::templates;
using herald::templates::test::TempTemplates;

namespace {

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run run(RenderOptions options) {
  std::ostringstream out, err;
  options.out = &out;
  options.err = &err;
  int code = run_render(options);
  return {code, out.str(), err.str()};
}

}  // namespace

TEST_CASE("herald render prints the preview JSON or one field", "[templates][render_command]") {
  TempTemplates files;
  files.write("promo.yaml",
              "sms:\n  body: \"Hi {{ customer.first_name }}\"\nemail:\n  subject: S\n  html: <p>{{ "
              "customer.first_name }}</p>\n");
  files.write("promo.fr.yaml", "sms:\n  body: \"Salut {{ customer.first_name }}\"\n");
  auto context = files.write("ctx.json", R"({"customer": {"id": "1", "first_name": "Zoé"}})");
  RenderOptions o;
  o.templates_dir = files.dir();
  o.template_name = "promo";
  o.channel = "sms";
  o.context_file = context;

  Run r = run(o);
  CHECK(r.code == 0);
  CHECK(nlohmann::ordered_json::parse(r.out) ==
        nlohmann::ordered_json::parse(
            R"({"body": "Hi Zoé", "segments": 1, "encoding": "GSM-7"})"));  // é is in GSM-7
  CHECK(r.out.find("\"body\"") < r.out.find("\"segments\""));

  o.field = "body";
  CHECK(run(o).out == "Hi Zoé");
  o.locale = "fr-CA";
  CHECK(run(o).out == "Salut Zoé");
  o.field = "segments";
  CHECK(run(o).out == "1\n");

  SECTION("a path to a file") {
    RenderOptions p = o;
    p.templates_dir = "/nonexistent";
    p.template_name = (files.dir() / "promo.fr.yaml").string();
    p.locale.clear();
    p.field = "body";
    CHECK(run(p).out == "Salut Zoé");
  }
  SECTION("email fields") {
    o.channel = "email";
    o.field = "text";
    o.locale.clear();
    CHECK(run(o).out == "Zoé");
  }
  SECTION("unknown field") {
    o.field = "nope";
    Run bad = run(o);
    CHECK(bad.code == 1);
    CHECK(bad.err.find("no field 'nope'") != std::string::npos);
  }
}

TEST_CASE("herald render exit codes", "[templates][render_command]") {
  TempTemplates files;
  files.write("ok.yaml", "sms:\n  body: hi\n");
  auto context = files.write("ctx.json", "{}");
  RenderOptions o;
  o.templates_dir = files.dir();
  o.template_name = "ok";
  o.channel = "sms";
  o.context_file = context;
  CHECK(run(o).code == 0);

  SECTION("bad usage is 2") {
    o.channel = "fax";
    CHECK(run(o).code == 2);
    o.channel = "sms";
    o.template_name.clear();
    CHECK(run(o).code == 2);
  }
  SECTION("unknown template is 1") {
    o.template_name = "missing";
    CHECK(run(o).code == 1);
  }
  SECTION("no section for the channel is 1") {
    o.channel = "email";
    Run r = run(o);
    CHECK(r.code == 1);
    CHECK(r.err.find("has no 'email' section") != std::string::npos);
  }
  SECTION("unreadable or invalid context is 1") {
    o.context_file = files.dir() / "none.json";
    CHECK(run(o).code == 1);
    o.context_file = files.write("bad.json", "{oops");
    CHECK(run(o).code == 1);
  }
  SECTION("template errors are listed as FILE:LINE:COLUMN and exit 1") {
    files.write("broken.yaml", "sms:\n  body: \"{{ x | nope }}\"\n");
    Run r = run(o);
    CHECK(r.code == 1);
    CHECK(r.err ==
          (files.dir() / "broken.yaml").string() + ":2:17: error: unknown filter 'nope'\n");
  }
  SECTION("render-time errors carry the position") {
    files.write("ok.yaml", "sms:\n  body: \"{% for i in (1..5000) %}x{% endfor %}\"\n");
    Run r = run(o);
    CHECK(r.code == 1);
    CHECK(r.err == (files.dir() / "ok.yaml").string() +
                       ":2:10: error: loop iterations exceed templates.max_iterations (1000)\n");
  }
}
