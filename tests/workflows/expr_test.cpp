#include <catch2/catch.hpp>

#include "workflows/expr/expression.hpp"

using herald::expr::Context;
using herald::expr::Duration;
using herald::expr::ErrorKind;
using herald::expr::EvalError;
using herald::expr::Expression;
using herald::expr::Json;
using herald::expr::Kind;
using herald::expr::parse_rfc3339;
using herald::expr::Schema;
using herald::expr::SyntaxError;
using herald::expr::Value;

namespace {

struct Fixture {
  Json customer = Json::parse(R"({
    "id": "c1", "first_name": "Asha", "email": "asha@example.com", "vip": true,
    "tags": ["new", "sale"], "prefs": {"channel": "sms", "key-with-dashes": 7},
    "tier": "Gold", "nothing": null, "score": 2.5, "created_at": "2024-01-01T00:00:00Z",
    "stats": {"orders": 3, "revenue": 250.5, "first_order_at": "2024-01-10T12:00:00Z",
              "last_order_at": "2024-05-01T12:00:00+02:00", "churn_risk": 0.4},
    "consent": {"email": "opted_in", "sms": "opted_out"}})");
  Json event = Json::parse(R"({
    "name": "cart.updated", "timestamp": "2024-05-20T10:00:00Z",
    "properties": {"total": 120, "items": [{"sku": "a", "price": 10}, {"sku": "b", "price": 110}],
                   "currency": "EUR", "shipped_at": "2024-05-18T10:00:00Z", "bad_time": "yesterday"}})");
  Json run = Json::parse(R"({"variant": "discount", "entered_at": "2024-05-20T09:00:00Z"})");
  Context context;

  Fixture() {
    context.set(herald::expr::Root::kCustomer, &customer)
        .set(herald::expr::Root::kEvent, &event)
        .set(herald::expr::Root::kRun, &run)
        .set_now(*parse_rfc3339("2024-05-21T10:00:00Z"));
  }

  Value eval(const std::string& text, EvalError* error = nullptr) {
    return Expression::compile(text).evaluate(context, error);
  }
  bool holds(const std::string& text, EvalError* error = nullptr) {
    return Expression::compile(text).test(context, error);
  }
  double number(const std::string& text) {
    Value v = eval(text);
    REQUIRE(v.kind() == Kind::kNumber);
    return v.as_number();
  }
  std::string string(const std::string& text) {
    Value v = eval(text);
    REQUIRE(v.kind() == Kind::kString);
    return std::string(v.as_string());
  }
  // Must fail with `kind`, be false as a condition, and say why.
  void fails(const std::string& text, ErrorKind kind = ErrorKind::kType) {
    INFO(text);
    EvalError error;
    CHECK_FALSE(holds(text, &error));
    CHECK(error.kind == kind);
    CHECK_FALSE(error.message.empty());
    EvalError again;
    CHECK(eval(text, &again).is_null());
    CHECK(again.kind == kind);
  }
};

SyntaxError syntax_error(const std::string& text, const Schema& schema = Schema::workflow()) {
  try {
    Expression::compile(text, schema);
  } catch (const SyntaxError& e) {
    return e;
  }
  FAIL("no syntax error for: " << text);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE_METHOD(Fixture, "literals", "[expr]") {
  CHECK(number("42") == 42);
  CHECK(number("3.25") == 3.25);
  CHECK(number("1e3") == 1000);
  CHECK(number("-7") == -7);
  CHECK(string("'single'") == "single");
  CHECK(string("\"double\"") == "double");
  CHECK(string(R"('it\'s')") == "it's");
  CHECK(eval("true").as_bool());
  CHECK_FALSE(eval("false").as_bool());
  CHECK(eval("null").is_null());
  CHECK(eval("[1, 'a', true]").to_json() == Json::parse(R"([1, "a", true])"));
  CHECK(eval("[]").sequence_size() == 0);
  CHECK(eval("[1, customer.id]").to_json() == Json::parse(R"([1, "c1"])"));
}

TEST_CASE_METHOD(Fixture, "durations", "[expr]") {
  using namespace std::chrono;
  CHECK(eval("30s").as_duration() == seconds(30));
  CHECK(eval("15m").as_duration() == minutes(15));
  CHECK(eval("1h").as_duration() == hours(1));
  CHECK(eval("2d").as_duration() == hours(48));
  CHECK(eval("1w").as_duration() == hours(168));
  CHECK(eval("1h30m").as_duration() == minutes(90));
  CHECK(eval("-1d").as_duration() == -hours(24));
  CHECK(holds("1h == 60m"));
  CHECK(holds("1d > 23h"));
  CHECK(holds("2 * 1h == 2h"));
  CHECK(holds("1h * 3 == 3h"));
  CHECK(holds("1h / 2 == 30m"));
  CHECK(number("1d / 1h") == 24);
  CHECK(holds("1h + 30m == 90m"));
  CHECK(holds("1h - 30m == 30m"));
  CHECK(holds("-(1h) == -60m"));
  CHECK(holds("90m % 1h == 30m"));
  CHECK(eval("90m").to_json() == "1h30m");
}

TEST_CASE_METHOD(Fixture, "paths, members and indexes", "[expr]") {
  CHECK(string("customer.first_name") == "Asha");
  CHECK(number("customer.stats.orders") == 3);
  CHECK(string("customer.consent.email") == "opted_in");
  CHECK(string("event.name") == "cart.updated");
  CHECK(number("event.properties.total") == 120);
  CHECK(string("event.properties.items[0].sku") == "a");
  CHECK(number("event.properties.items[1]['price']") == 110);
  CHECK(string("event.properties.items[-1].sku") == "b");
  CHECK(number("customer.prefs['key-with-dashes']") == 7);
  CHECK(number("customer['prefs'][\"key-with-dashes\"]") == 7);
  CHECK(string("customer.tags[customer.stats.orders - 2]") == "sale");
  CHECK(string("run.variant") == "discount");
  CHECK(eval("customer.prefs").kind() == Kind::kJson);
  CHECK(eval("customer.tags").is_sequence());
}

TEST_CASE_METHOD(Fixture, "a missing path is null", "[expr]") {
  CHECK(eval("customer.missing").is_null());
  CHECK(eval("customer.missing.deeper[3]").is_null());
  CHECK(eval("event.properties.items[9].sku").is_null());
  CHECK(eval("customer.first_name.x").is_null());
  CHECK(eval("customer.tags['x']").is_null());
  CHECK(eval("customer.nothing").is_null());
  Context empty;
  CHECK(Expression::compile("customer.id").evaluate(empty).is_null());
  CHECK(Expression::compile("event.name == null").test(empty));
}

TEST_CASE_METHOD(Fixture, "comparisons", "[expr]") {
  CHECK(holds("customer.stats.orders == 3"));
  CHECK(holds("customer.stats.orders != 4"));
  CHECK(holds("customer.stats.orders < 4"));
  CHECK(holds("customer.stats.orders <= 3"));
  CHECK(holds("customer.stats.orders > 2"));
  CHECK(holds("customer.stats.orders >= 3"));
  CHECK_FALSE(holds("customer.stats.orders > 3"));
  CHECK(holds("'abc' < 'abd'"));
  CHECK(holds("customer.tier == 'Gold'"));
  CHECK(holds("customer.tags == ['new', 'sale']"));
  CHECK(holds("customer.vip == true"));
  CHECK_FALSE(holds("customer.stats.orders == '3'"));  // no implicit conversion
  CHECK(holds("customer.stats.orders != '3'"));
}

TEST_CASE_METHOD(Fixture, "comparisons with null", "[expr]") {
  CHECK(holds("customer.missing == null"));
  CHECK(holds("null == customer.missing"));
  CHECK_FALSE(holds("customer.missing != null"));
  CHECK(holds("customer.first_name != null"));
  CHECK_FALSE(holds("customer.first_name == null"));
  CHECK(holds("customer.nothing == null"));
  for (const char* op : {"==", "!=", "<", "<=", ">", ">="}) {
    INFO(op);
    EvalError error;
    CHECK_FALSE(holds(std::string("customer.missing ") + op + " 5", &error));
    CHECK_FALSE(error);
    CHECK_FALSE(holds(std::string("5 ") + op + " customer.missing", &error));
    CHECK_FALSE(error);
  }
  CHECK_FALSE(holds("customer.missing in ['a']"));
  CHECK_FALSE(holds("'a' in customer.missing"));
  CHECK_FALSE(holds("customer.missing not in ['a']"));
  CHECK(holds("customer.missing == customer.other_missing"));
  CHECK(eval("customer.missing + 1").is_null());
  CHECK(eval("-customer.missing").is_null());
}

TEST_CASE_METHOD(Fixture, "logic and precedence", "[expr]") {
  CHECK(holds("true and true"));
  CHECK_FALSE(holds("true and false"));
  CHECK(holds("false or true"));
  CHECK_FALSE(holds("false or false"));
  CHECK(holds("not false"));
  CHECK(holds("not customer.missing"));  // null is falsy
  CHECK_FALSE(holds("customer.missing and true"));
  CHECK(holds("true or false and false"));  // and binds tighter than or
  CHECK_FALSE(holds("(true or false) and false"));
  CHECK(holds("not 1 == 2"));  // not (1 == 2)
  CHECK(number("1 + 2 * 3") == 7);
  CHECK(number("(1 + 2) * 3") == 9);
  CHECK(number("10 - 4 - 3") == 3);  // left-associative
  CHECK(number("12 / 3 / 2") == 2);
  CHECK(number("-2 * 3") == -6);
  CHECK(number("7 % 4") == 3);
  CHECK(number("2 - -2") == 4);
  CHECK(holds("1 + 1 == 2 and 'a' != 'b'"));
  // Short-circuit: the right side is not evaluated, so its type error does not count.
  EvalError error;
  CHECK_FALSE(holds("false and customer.first_name > 1", &error));
  CHECK_FALSE(error);
  CHECK(holds("true or customer.first_name > 1", &error));
  CHECK_FALSE(error);
}

TEST_CASE_METHOD(Fixture, "arithmetic and strings", "[expr]") {
  CHECK(number("customer.stats.revenue + 0.5") == 251);
  CHECK(number("event.properties.total * 2 / 3") == 80);
  CHECK(string("customer.first_name + '!'") == "Asha!");
}

TEST_CASE_METHOD(Fixture, "in and not in", "[expr]") {
  CHECK(holds("'sale' in customer.tags"));
  CHECK_FALSE(holds("'old' in customer.tags"));
  CHECK(holds("'old' not in customer.tags"));
  CHECK(holds("customer.tier in ['Gold', 'Silver']"));
  CHECK(holds("3 in [1, 2, 3]"));
  CHECK(holds("'sh' in customer.first_name"));
  CHECK(holds("'channel' in customer.prefs"));
  CHECK(holds("customer.prefs.channel in [customer.id, 'sms']"));
  fails("1 in customer.first_name");
  fails("'a' in 5");
}

TEST_CASE_METHOD(Fixture, "functions", "[expr]") {
  CHECK(holds("exists(customer.email)"));
  CHECK_FALSE(holds("exists(customer.phone)"));
  CHECK_FALSE(holds("exists(customer.nothing)"));
  CHECK(holds("exists(event.properties.items[1].price)"));
  CHECK(holds("exists(event.properties.bad_time)"));
  CHECK(string("lower(customer.tier)") == "gold");
  CHECK(string("upper(customer.tier)") == "GOLD");
  CHECK(string("lower('abc')") == "abc");
  CHECK(eval("lower(customer.missing)").is_null());
  CHECK(holds("contains(customer.email, '@example')"));
  CHECK_FALSE(holds("contains(customer.email, '@other')"));
  CHECK(holds("contains(customer.tags, 'new')"));
  CHECK(holds("contains(['x', 'y'], 'y')"));
  CHECK_FALSE(holds("contains(customer.missing, 'y')"));
  CHECK(holds("starts_with(customer.email, 'asha')"));
  CHECK_FALSE(holds("starts_with(customer.email, 'bob')"));
  CHECK_FALSE(holds("starts_with(customer.missing, 'bob')"));
  CHECK(number("len(customer.first_name)") == 4);
  CHECK(number("len('héllo')") == 5);  // characters, not bytes
  CHECK(number("len(customer.tags)") == 2);
  CHECK(number("len(customer.prefs)") == 2);
  CHECK(number("len([1, 2, 3])") == 3);
  CHECK(eval("len(customer.missing)").is_null());
  CHECK(number("days_since(customer.stats.last_order_at)") == 20);
  CHECK(number("days_since(event.timestamp)") == 1);
  CHECK(number("days_since('2024-05-11')") == 10);
  CHECK(number("days_since('2024-05-20T10:00:01Z')") == 0);  // whole days elapsed
  CHECK(eval("days_since(customer.missing)").is_null());
}

TEST_CASE_METHOD(Fixture, "times", "[expr]") {
  using namespace std::chrono;
  CHECK(eval("now").kind() == Kind::kTime);
  CHECK(eval("event.timestamp").kind() == Kind::kTime);
  CHECK(eval("customer.stats.first_order_at").kind() == Kind::kTime);
  CHECK(eval("run.entered_at").kind() == Kind::kTime);
  CHECK(eval("customer.created_at").kind() == Kind::kTime);
  // Time minus time is a duration; offsets are honoured.
  CHECK(eval("now - event.timestamp").as_duration() == hours(24));
  CHECK(eval("event.timestamp - customer.stats.last_order_at").as_duration() == hours(19 * 24));
  CHECK(holds("now - run.entered_at > 1d"));
  CHECK(holds("now - run.entered_at <= 25h"));
  // Time plus or minus a duration is a time.
  CHECK(eval("event.timestamp + 1d").to_json() == "2024-05-21T10:00:00Z");
  CHECK(eval("1d + event.timestamp").to_json() == "2024-05-21T10:00:00Z");
  CHECK(eval("now - 2d").to_json() == "2024-05-19T10:00:00Z");
  CHECK(holds("event.timestamp + 1d == now"));
  CHECK(holds("event.timestamp < now"));
  // A string meeting a time is read as RFC 3339.
  CHECK(holds("event.timestamp > '2024-05-01T00:00:00Z'"));
  CHECK(holds("event.timestamp == '2024-05-20T12:00:00+02:00'"));
  CHECK(holds("now - event.properties.shipped_at == 3d"));
  CHECK(eval("event.properties.shipped_at + 1h").to_json() == "2024-05-18T11:00:00Z");
  CHECK(holds("'2024-01-01T00:00:00Z' + 1w == '2024-01-08T00:00:00Z' + 0s"));
  fails("now - event.properties.bad_time", ErrorKind::kInvalidTime);
  fails("event.timestamp > 'soon'", ErrorKind::kInvalidTime);
  fails("now + 5");
  fails("now * 2");
  fails("now < 1h");
}

TEST_CASE_METHOD(Fixture, "a bad value in a time field is an error", "[expr]") {
  Json bad = Json::parse(R"({"name": "x", "timestamp": "not a time"})");
  context.set(herald::expr::Root::kEvent, &bad);
  fails("event.timestamp < now", ErrorKind::kInvalidTime);
  Json number_time = Json::parse(R"({"timestamp": 12})");
  context.set(herald::expr::Root::kEvent, &number_time);
  fails("event.timestamp < now", ErrorKind::kType);
}

TEST_CASE_METHOD(Fixture, "type errors make conditions false and are reported", "[expr]") {
  fails("customer.first_name > 3");
  fails("customer.first_name - 1");
  fails("customer.tags + 1");
  fails("-customer.first_name");
  fails("customer.stats.orders and true");
  fails("not customer.first_name");
  fails("customer.first_name or false");
  fails("upper(customer.stats.orders) == 'X'");
  fails("lower(customer.tags) == 'x'");
  fails("len(customer.stats.orders) > 1");
  fails("starts_with(customer.stats.orders, 'a')");
  fails("starts_with('a', 1)");
  fails("contains(customer.stats.orders, 1)");
  fails("contains('abc', 1)");
  fails("days_since(customer.stats.orders) > 1");
  fails("customer.tags[customer.vip] == 1");
  fails("customer.vip < true");
  fails("customer.stats.orders / 0 > 1", ErrorKind::kDivisionByZero);
  fails("customer.stats.orders % 0 > 1", ErrorKind::kDivisionByZero);
  fails("1h / 0 > 1s", ErrorKind::kDivisionByZero);
  // A condition that is not a boolean is false and reported.
  EvalError error;
  CHECK_FALSE(holds("customer.stats.orders", &error));
  CHECK(error.kind == ErrorKind::kType);
  // The error points at the failing sub-expression.
  EvalError located;
  CHECK_FALSE(holds("customer.vip and customer.first_name > 3", &located));
  CHECK(located.offset == 17);
}

TEST_CASE("syntax errors carry offset, line and column", "[expr]") {
  auto e = syntax_error("customer.stats.orders >");
  CHECK(e.offset == 23);
  CHECK(e.line == 1);
  CHECK(e.column == 24);
  CHECK(e.message == "expected a value, found end of expression");

  e = syntax_error("customer.id ==\n  'a' and (");
  CHECK(e.line == 2);
  CHECK(e.column == 12);

  CHECK(syntax_error("'abc").message == "unterminated string");
  CHECK(syntax_error("a == 1").message == "unknown name 'a' (for a string, write 'a' in quotes)");
  CHECK(syntax_error("custmer.id == 1").message ==
        "unknown name 'custmer' (did you mean 'customer'?)");
  CHECK(syntax_error("lowr(customer.id)").message ==
        "unknown function 'lowr' (did you mean 'lower'?)");
  CHECK(syntax_error("len(1, 2)").message == "len() takes 1 argument, not 2");
  CHECK(syntax_error("exists('x')").message ==
        "exists() takes a path, like exists(customer.email)");
  CHECK(syntax_error("x = 1").column == 3);
  CHECK(syntax_error("customer.id = 'a'").message == "unexpected '=': use '==' to compare");
  CHECK(syntax_error("true && false").message == "unexpected '&&': use 'and'");
  CHECK(syntax_error("1 < 2 < 3").message ==
        "comparisons cannot be chained: combine them with 'and'");
  CHECK(syntax_error("3x").message ==
        "bad duration '3x': expected digits and a unit s, m, h, d or w");
  CHECK(syntax_error("customer.tags[1.5]").message == "an index must be a whole number");
  CHECK(syntax_error("lower('a').b").message ==
        "only paths (customer.…, event.…) can have members or indexes");
  CHECK(syntax_error("").message == "empty expression");
  CHECK(syntax_error("(1 + 2").message == "expected ')', found end of expression");
  CHECK(syntax_error("customer.").message ==
        "expected a field name after '.', found end of expression");
  CHECK(syntax_error("event.name == 'x'", Schema::segment()).message ==
        "'event' is not available here: segments see customer and now");
  CHECK(syntax_error("run.variant == 'a'", Schema::trigger()).column == 1);
}

TEST_CASE("source-mapping expressions see header and body", "[expr]") {
  Json header = Json::parse(R"({"x-shopify-topic": "checkouts/update"})");
  Json body = Json::parse(R"({"customer": {"id": 42}, "type": "contact.updated"})");
  Context context;
  context.set("header", &header);
  context.set("body", &body);
  const auto& schema = Schema::source_mapping();
  CHECK(
      Expression::compile("header['x-shopify-topic'] == 'checkouts/update'", schema).test(context));
  CHECK(Expression::compile("body.customer.id", schema).evaluate(context).as_number() == 42);
  CHECK(Expression::compile("body.type", schema).evaluate(context).to_json() == "contact.updated");
  CHECK_THROWS_AS(Expression::compile("customer.id", schema), SyntaxError);
  CHECK_FALSE(context.set("nope", &body));
}

TEST_CASE("static types", "[expr]") {
  using herald::expr::Severity;
  using herald::expr::Type;
  auto diagnostics = [](const std::string& text) {
    return Expression::compile(text).diagnostics();
  };
  CHECK(Expression::compile("customer.stats.orders > 1").static_type() == Type::kBool);
  CHECK(Expression::compile("customer.stats.orders + 1").static_type() == Type::kNumber);
  CHECK(Expression::compile("now - event.timestamp").static_type() == Type::kDuration);
  CHECK(Expression::compile("event.timestamp + 1d").static_type() == Type::kTime);
  CHECK(Expression::compile("customer.anything").static_type() == Type::kUnknown);
  CHECK(Expression::compile("lower(customer.email)").static_type() == Type::kString);

  auto d = diagnostics("customer.stats.orders > 'ten'");
  REQUIRE(d.size() == 1);
  CHECK(d[0].severity == Severity::kError);
  CHECK(d[0].message == "'>' cannot compare a number with a string");
  CHECK(d[0].offset == 0);

  d = diagnostics("customer.id == 1 and customer.stats.orders == 'x'");
  REQUIRE(d.size() == 2);
  CHECK(d[0].severity == Severity::kWarning);
  CHECK(d[0].message == "'==' between a string and a number is never true");
  CHECK(d[1].offset == 21);

  d = diagnostics("customer.stats.ordrs > 1");
  REQUIRE(d.size() == 1);
  CHECK(d[0].severity == Severity::kWarning);
  CHECK(d[0].message == "unknown field 'ordrs' of customer.stats (did you mean 'orders'?)");

  d = diagnostics("event.timestamp > 'last tuesday'");
  REQUIRE(d.size() == 1);
  CHECK(d[0].message == "'last tuesday' is not an RFC 3339 time");
  CHECK(d[0].offset == 18);

  CHECK(diagnostics("customer.stats.orders + 'a' > 1").at(0).message ==
        "'+' cannot combine a number and a string");
  CHECK(diagnostics("customer.stats.orders and true").at(0).message ==
        "'and' needs true or false, not a number");
  CHECK(diagnostics("upper(customer.stats.orders) == 'A'").at(0).message ==
        "upper() cannot take a number");
  CHECK(diagnostics("customer.x < null").at(0).message ==
        "a comparison with null is always false (use == null or != null)");
  CHECK(diagnostics("1 in 2").at(0).message ==
        "'in' needs a list, a string or an object on its right, not a number");
  // Unknown types are not guessed at.
  CHECK(diagnostics("customer.whatever > 'x' and event.properties.total > 1").empty());
  CHECK(diagnostics("now - event.timestamp > 2d and customer.consent.sms == 'opted_in'").empty());
}

TEST_CASE("RFC 3339 and durations", "[expr]") {
  using herald::expr::format_duration;
  using herald::expr::format_rfc3339;
  using herald::expr::parse_duration;
  CHECK(format_rfc3339(*parse_rfc3339("2024-02-29T23:59:59.5-01:00")) == "2024-03-01T00:59:59.5Z");
  CHECK(format_rfc3339(*parse_rfc3339("1969-12-31T23:59:59Z")) == "1969-12-31T23:59:59Z");
  CHECK(format_rfc3339(*parse_rfc3339("2024-05-01")) == "2024-05-01T00:00:00Z");
  CHECK_FALSE(parse_rfc3339("2023-02-29T00:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2024-05-01T25:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2024-05-01T10:00:00"));
  CHECK_FALSE(parse_rfc3339("yesterday"));
  CHECK(parse_duration("1w2d3h4m5s")->count() == (9 * 86400LL + 3 * 3600 + 4 * 60 + 5) * 1000000);
  CHECK_FALSE(parse_duration("1"));
  CHECK_FALSE(parse_duration("h"));
  CHECK_FALSE(parse_duration("1x"));
  CHECK_FALSE(parse_duration(""));
  CHECK(format_duration(*parse_duration("-90m")) == "-1h30m");
  CHECK(format_duration(Duration(0)) == "0s");
}

TEST_CASE_METHOD(Fixture, "compiled expressions are shared and reusable", "[expr]") {
  auto e = Expression::compile("event.properties.total > 100");
  Expression copy = e;
  CHECK(copy.test(context));
  Json small = Json::parse(R"({"properties": {"total": 5}})");
  context.set(herald::expr::Root::kEvent, &small);
  CHECK_FALSE(e.test(context));
  CHECK(copy.text() == "event.properties.total > 100");
  CHECK(Expression().evaluate(context).is_null());
  CHECK_FALSE(Expression().test(context));
}

TEST_CASE_METHOD(Fixture, "evaluation is fast", "[expr][.bench]") {
  auto e = Expression::compile("customer.stats.orders > 2 and event.properties.total >= 100");
  constexpr int kRuns = 2'000'000;
  auto start = std::chrono::steady_clock::now();
  int hits = 0;
  for (int i = 0; i < kRuns; ++i) hits += e.test(context);
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WARN("evaluations per second: " << kRuns / elapsed);
  CHECK(hits == kRuns);
}

TEST_CASE("deeply nested expressions are refused, not a stack overflow", "[expr]") {
  CHECK(syntax_error(std::string(5000, '(') + "1" + std::string(5000, ')')).message ==
        "the expression is nested too deeply");
  std::string nots;
  for (int i = 0; i < 5000; ++i) nots += "not ";
  CHECK(syntax_error(nots + "true").message == "the expression is nested too deeply");
  CHECK(syntax_error(std::string(5000, '-') + "1").message ==
        "the expression is nested too deeply");
  CHECK(Expression::compile(std::string(50, '(') + "1" + std::string(50, ')')).static_type() ==
        herald::expr::Type::kNumber);
}
