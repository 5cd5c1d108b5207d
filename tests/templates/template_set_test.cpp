// Template files: sections per channel, locale fallback, load errors with
// their file positions, and what each channel renders to.

#include <catch2/catch.hpp>

#include "templates/template_set.hpp"
#include "test_files.hpp"

using namespace herald::templates;
using herald::templates::test::column_of;
using herald::templates::test::TempTemplates;
using Json = nlohmann::ordered_json;

namespace {

Json cart_context() {
  return Json::parse(R"({
    "customer": {"id": "c1", "first_name": "Ada", "locale": "en"},
    "event": {"name": "cart.updated", "timestamp": "2024-03-05T14:07:09Z",
              "properties": {"currency": "EUR", "value": 77.5, "cart_url": "https://shop.example.com/c?a=1&b=2",
                             "items": [{"name": "Socks & Shoes", "price": 12.5}, {"name": "Hat", "price": 25},
                                       {"name": "Scarf", "price": 40}]}},
    "unsubscribe_url": "https://h.example.com/u/T"
  })");
}

std::vector<LoadError> load_errors(const TempTemplates& files) {
  try {
    TemplateSet::load(files.dir());
  } catch (const TemplateLoadError& e) {
    CHECK(TemplateSet::check(files.dir()).size() == e.errors().size());
    return e.errors();
  }
  FAIL("the folder loaded without errors");
  return {};
}

const std::string kMinimal = "email:\n  subject: S\n  text: T\nsms:\n  body: B\n";

}  // namespace

TEST_CASE("the example templates load, with the sections the workflows need", "[templates][set]") {
  auto set = TemplateSet::load(HERALD_TEMPLATES_EXAMPLES_DIR);
  for (std::string name : {"cart_reminder", "cart_discount", "birthday_coupon", "winback_discount",
                           "welcome_1", "welcome_2", "review_request", "vip_welcome"}) {
    INFO(name);
    REQUIRE(set.has(name));
    CHECK(set.has_channel(name, "email"));
    CHECK(set.has_channel(name, "sms"));
    Json rendered = set.render(name, "sms", "", cart_context());
    CHECK(rendered["segments"].get<int>() >= 1);
    CHECK_FALSE(set.render(name, "email", "", cart_context())["text"].get<std::string>().empty());
  }
  CHECK(set.channels("cart_reminder") ==
        std::vector<std::string>{"email", "sms", "whatsapp", "wechat", "social"});
  CHECK(set.channels("nope").empty());
  CHECK_FALSE(set.has("nope"));
}

TEST_CASE("cart_reminder renders every channel", "[templates][set]") {
  auto set = TemplateSet::load(HERALD_TEMPLATES_EXAMPLES_DIR);
  Json ctx = cart_context();

  Json email = set.render("cart_reminder", "email", "", ctx);
  CHECK(email["subject"] == "Ada, your cart is waiting");
  std::string html = email["html"];
  CHECK(html.find("<li>Socks &amp; Shoes — €12.50</li>") != std::string::npos);
  CHECK(html.find("href=\"https://shop.example.com/c?a=1&amp;b=2\"") != std::string::npos);
  CHECK(email["text"].get<std::string>().find("- Socks & Shoes: €12.50") != std::string::npos);

  Json sms = set.render("cart_reminder", "sms", "", ctx);
  CHECK(
      sms ==
      Json::parse(
          R"({"body": "Ada, your cart is waiting: https://shop.example.com/c?a=1&b=2 Reply STOP to opt out",
                               "segments": 1, "encoding": "GSM-7"})"));

  Json whatsapp = set.render("cart_reminder", "whatsapp", "", ctx);
  CHECK(whatsapp["text"] == "Hi Ada! Your cart is waiting: https://shop.example.com/c?a=1&b=2");
  CHECK(whatsapp["template"] == Json::parse(R"({"name": "cart_reminder_v2", "language": "en",
                                                "params": ["Ada", "https://shop.example.com/c?a=1&b=2"]})"));

  Json wechat = set.render("cart_reminder", "wechat", "", ctx);
  CHECK(wechat["template"]["id"] == "TEMPLATE_ID_CART_REMINDER");
  CHECK(wechat["template"]["url"] == "https://shop.example.com/c?a=1&b=2");
  CHECK(wechat["template"]["data"]["first"] == "Hi Ada, you left something behind");
  CHECK(wechat["template"]["data"]["keyword1"] == "3 items");
  CHECK(wechat["template"]["data"]["keyword2"] == "€77.50");

  CHECK(set.render("cart_reminder", "social", "", ctx)["text"] ==
        "Hi Ada! You left something in your cart: https://shop.example.com/c?a=1&b=2");
}

TEST_CASE("locales fall back fr-CA, fr, then the default, per channel",
          "[templates][set][locale]") {
  TempTemplates files;
  files.write("promo.yaml", "email:\n  subject: default\n  text: d\nsms:\n  body: default sms\n");
  files.write("promo.fr.yaml", "email:\n  subject: fr\n  text: f\nsms:\n  body: fr sms\n");
  files.write("promo.fr-CA.yaml", "sms:\n  body: fr-CA sms\n");
  auto set = TemplateSet::load(files.dir());
  Json ctx = Json::object();
  CHECK(set.render("promo", "sms", "fr-CA", ctx)["body"] == "fr-CA sms");
  CHECK(set.render("promo", "sms", "fr_ca", ctx)["body"] == "fr-CA sms");
  CHECK(set.render("promo", "email", "fr-CA", ctx)["subject"] ==
        "fr");  // fr-CA has no email section
  CHECK(set.render("promo", "sms", "fr-BE", ctx)["body"] == "fr sms");
  CHECK(set.render("promo", "sms", "fr", ctx)["body"] == "fr sms");
  CHECK(set.render("promo", "sms", "de-DE", ctx)["body"] == "default sms");
  CHECK(set.render("promo", "sms", "", ctx)["body"] == "default sms");
  SECTION("without a locale argument, the customer's locale") {
    Json fr = {{"customer", {{"locale", "fr-CA"}}}};
    CHECK(set.render("promo", "sms", "", fr)["body"] == "fr-CA sms");
    CHECK(set.render("promo", "sms", "en", fr)["body"] == "default sms");
  }
  CHECK(set.channels("promo") == std::vector<std::string>{"email", "sms"});
}

TEST_CASE("cart_reminder.fr.yaml is picked for French customers", "[templates][set][locale]") {
  auto set = TemplateSet::load(HERALD_TEMPLATES_EXAMPLES_DIR);
  Json ctx = cart_context();
  ctx["customer"]["locale"] = "fr-CA";
  Json sms = set.render("cart_reminder", "sms", "", ctx);
  CHECK(sms["body"].get<std::string>().rfind("Ada, votre panier vous attend", 0) == 0);
  CHECK(set.render("cart_reminder", "whatsapp", "", ctx)["template"]["language"] == "fr");
  CHECK(set.render("cart_reminder", "social", "", ctx)["text"].get<std::string>().rfind("Hi Ada!",
                                                                                        0) == 0);
}

TEST_CASE("Liquid errors point into the YAML file", "[templates][set][errors]") {
  TempTemplates files;
  SECTION("double-quoted scalar, after an escape") {
    std::string text = "sms:\n  body: \"Line\\n{{ customer.name | bogus }}\"\n";
    files.write("a.yaml", text);
    auto errors = load_errors(files);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == (files.dir() / "a.yaml").string());
    CHECK(errors[0].line == 2);
    CHECK(errors[0].column == column_of(text, 2, "bogus"));
    CHECK(errors[0].message == "unknown filter 'bogus'");
  }
  SECTION("single-quoted scalar with a doubled quote") {
    std::string text = "sms:\n  body: 'It''s {{ x | bogus }}'\n";
    files.write("a.yaml", text);
    auto errors = load_errors(files);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == 2);
    CHECK(errors[0].column == column_of(text, 2, "bogus"));
  }
  SECTION("plain scalar, folded over two lines") {
    std::string text = "sms:\n  body: Hi there\n    and {{ x | bogus }}\n";
    files.write("a.yaml", text);
    auto errors = load_errors(files);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == 3);
    CHECK(errors[0].column == column_of(text, 3, "bogus"));
  }
  SECTION("literal block scalar") {
    std::string text =
        "email:\n  subject: Hi\n  html: |\n    <p>fine</p>\n    <p>{{ customer.name }}</p>\n      "
        "<p>{{ x | bogus }}</p>\n";
    files.write("a.yaml", text);
    auto errors = load_errors(files);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == 6);
    CHECK(errors[0].column == column_of(text, 6, "bogus"));
  }
  SECTION("folded block scalar") {
    std::string text = "email:\n  subject: Hi\n  text: >\n    first line\n    second {% if x %}\n";
    files.write("a.yaml", text);
    auto errors = load_errors(files);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == 5);
    CHECK(errors[0].column == column_of(text, 5, "{% if"));
    CHECK(errors[0].message == "'if' is not closed by 'endif'");
  }
  SECTION("columns count characters, not bytes") {
    std::string text = "sms:\n  body: \"Café crème {{ x | bogus }}\"\n";
    files.write("a.yaml", text);
    auto errors = load_errors(files);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].column == column_of(text, 2, "bogus"));
    CHECK(errors[0].column == 28);  // 30 in bytes
  }
  SECTION("a flow sequence item") {
    std::string text =
        "whatsapp:\n  template: { name: t, language: en, params: [\"{{ a }}\", \"{{ b | nope }}\"] "
        "}\n";
    files.write("a.yaml", text);
    auto errors = load_errors(files);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == 2);
    CHECK(errors[0].column == column_of(text, 2, "nope"));
  }
}

TEST_CASE("all errors of all files are collected", "[templates][set][errors]") {
  TempTemplates files;
  files.write("good.yaml", kMinimal);
  files.write(
      "one.yaml",
      "sms:\n  body: \"{{ a | x1 }} {{ b | x2 }}\"\nemail:\n  subject: \"{% if %}\"\n  text: t\n");
  files.write("two.yaml", "sms:\n  body: ok\n  bodi: typo\npush:\n  text: x\n");
  auto errors = load_errors(files);
  REQUIRE(errors.size() == 5);
  CHECK(errors[0].message == "unknown filter 'x1'");
  CHECK(errors[1].message == "unknown filter 'x2'");
  CHECK(errors[2].line == 4);
  CHECK(errors[2].message == "'if' needs a condition");
  CHECK(errors[3].line == 3);
  CHECK(errors[3].column == 3);
  CHECK(errors[3].message == "unknown key 'bodi' in sms (expected body)");
  CHECK(errors[4].line == 4);
  CHECK(errors[4].column == 1);
  CHECK(errors[4].message.rfind("unknown key 'push' in a template file", 0) == 0);
}

TEST_CASE("file-level checks", "[templates][set][errors]") {
  TempTemplates files;
  SECTION("YAML syntax errors") {
    files.write("a.yaml", "sms:\n  body: [unclosed\n");
    auto errors = load_errors(files);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line >= 2);
  }
  SECTION("a translation needs a default") {
    files.write("promo.fr.yaml", kMinimal);
    CHECK(load_errors(files)[0].message ==
          "translation without a default: add promo.yaml beside it");
  }
  SECTION("the template key must match the file name") {
    files.write("promo.yaml", "template: other\n" + kMinimal);
    auto errors = load_errors(files);
    CHECK(errors[0].line == 1);
    CHECK(errors[0].column == 11);
    CHECK(errors[0].message == "template is named 'other' but its file name says 'promo'");
  }
  SECTION("required keys") {
    files.write("a.yaml",
                "email:\n  html: <p>x</p>\nsms: {}\nwhatsapp:\n  template: { name: x }\n");
    auto errors = load_errors(files);
    REQUIRE(errors.size() == 3);
    CHECK(errors[0].message == "email needs a 'subject'");
    CHECK(errors[1].message == "sms needs 'body'");
    CHECK(errors[2].message == "whatsapp.template needs 'language'");
  }
  SECTION("duplicate keys") {
    files.write("a.yaml", "sms:\n  body: a\n  body: b\n");
    CHECK(load_errors(files)[0].message == "duplicate key 'body' in sms");
  }
  SECTION("bad locale in a file name") {
    files.write("a.yaml", kMinimal);
    files.write("a.x.yaml", kMinimal);
    CHECK(load_errors(files)[0].message.find("is not a locale") != std::string::npos);
  }
  SECTION("a missing folder") {
    CHECK_THROWS_AS(TemplateSet::load(files.dir() / "nope"), TemplateLoadError);
  }
}

TEST_CASE("rendering failures are typed", "[templates][set]") {
  TempTemplates files;
  files.write("a.yaml", kMinimal);
  auto set = TemplateSet::load(files.dir());
  auto kind_of = [&](std::string_view name, std::string_view channel) {
    try {
      set.render(name, channel, "", Json::object());
    } catch (const TemplateError& e) {
      return e.kind();
    }
    return TemplateError::Kind::kRender;
  };
  CHECK(kind_of("nope", "sms") == TemplateError::Kind::kNotFound);
  CHECK(kind_of("a", "whatsapp") == TemplateError::Kind::kNoSection);
  CHECK(kind_of("a", "fax") == TemplateError::Kind::kNoSection);
}

TEST_CASE("SMS segments are counted and max_sms_segments enforced", "[templates][set][sms]") {
  TempTemplates files;
  std::string text = "sms:\n  body: \"{{ data.text }}\"\n";
  files.write("s.yaml", text);
  Limits limits;
  limits.max_sms_segments = 2;
  auto set = TemplateSet::load(files.dir(), limits);
  auto render = [&](const std::string& body) {
    return set.render("s", "sms", "", Json{{"data", {{"text", body}}}});
  };
  CHECK(render(std::string(160, 'a'))["segments"] == 1);
  CHECK(render(std::string(161, 'a'))["segments"] == 2);
  CHECK(render("Prix: 10€")["encoding"] == "GSM-7");
  CHECK(render("Ça coûte 10")["encoding"] == "UCS-2");
  try {
    render(std::string(307, 'a'));
    FAIL("no error");
  } catch (const TemplateError& e) {
    CHECK(e.kind() == TemplateError::Kind::kSmsSegments);
    CHECK(e.line() == 2);
    CHECK(e.column() == column_of(text, 2, "{{"));
    CHECK(e.message() ==
          "the SMS body needs 3 segments (307 GSM-7 septets), more than channels.sms.max_segments "
          "(2)");
  }
}

TEST_CASE("email text is generated from html when absent", "[templates][set][email]") {
  TempTemplates files;
  files.write(
      "e.yaml",
      "email:\n  subject: \"Hi\\r\\n{{ name }}\"\n  html: |\n    <p>Hello <b>{{ name }}</b>,</p>\n"
      "    <p>Your <a href=\"{{ url }}\">cart</a> is waiting.<br>See you!</p>\n");
  auto set = TemplateSet::load(files.dir());
  Json email = set.render("e", "email", "",
                          Json{{"name", "Tom & Jerry"}, {"url", "https://x.test/c?a=1&b=2"}});
  CHECK(email["subject"] == "Hi  Tom & Jerry");
  CHECK(email["html"] ==
        "<p>Hello <b>Tom &amp; Jerry</b>,</p>\n<p>Your <a "
        "href=\"https://x.test/c?a=1&amp;b=2\">cart</a> is "
        "waiting.<br>See you!</p>\n");
  CHECK(email["text"] ==
        "Hello Tom & Jerry,\n\nYour cart (https://x.test/c?a=1&b=2) is waiting.\nSee you!");
}

TEST_CASE("load_template_file takes a path and its translations", "[templates][set]") {
  TempTemplates files;
  files.write("promo.yaml", kMinimal);
  files.write("promo.fr.yaml", "sms:\n  body: Bonjour\n");
  files.write("other.yaml", "sms:\n  body: \"{{ x | bad }}\"\n");  // not loaded
  auto set = TemplateSet::load_template_file(files.dir() / "promo.yaml");
  CHECK(set.names() == std::vector<std::string>{"promo"});
  CHECK(set.render("promo", "sms", "fr", Json::object())["body"] == "Bonjour");
}
