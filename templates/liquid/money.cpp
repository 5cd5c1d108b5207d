// `money: CURRENCY`: an amount in major units (12.5) formatted the way
// Intl.NumberFormat('en-US', {style: 'currency'}) does: "$12.50", "€9.99",
// "¥1,250", "KWD 12.500". Decimals are the ISO 4217 minor units of the
// currency; halves round away from zero. Without a currency: "12.50".

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "templates/liquid/filters.hpp"

namespace herald::templates {
namespace {

struct Currency {
  std::string_view code;
  std::string_view symbol;
};

// CLDR's English symbols; any other currency is written as its code.
constexpr Currency kSymbols[] = {
    {"USD", "$"},    {"EUR", "€"},   {"GBP", "£"},    {"JPY", "¥"},   {"CAD", "CA$"},
    {"AUD", "A$"},   {"NZD", "NZ$"}, {"HKD", "HK$"},  {"MXN", "MX$"}, {"BRL", "R$"},
    {"INR", "₹"},    {"KRW", "₩"},   {"CNY", "CN¥"},  {"TWD", "NT$"}, {"ILS", "₪"},
    {"VND", "₫"},    {"PHP", "₱"},   {"XAF", "FCFA"}, {"XCD", "EC$"}, {"XOF", "F\u202FCFA"},
    {"XPF", "CFPF"},
};

constexpr std::string_view kZeroDecimals[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY",
                                              "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                                              "VND", "VUV", "XAF", "XOF", "XPF"};
constexpr std::string_view kThreeDecimals[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
constexpr std::string_view kFourDecimals[] = {"CLF", "UYW"};

template <std::size_t N>
bool listed(const std::string_view (&list)[N], std::string_view code) {
  for (auto c : list) {
    if (c == code) return true;
  }
  return false;
}

int minor_units(std::string_view code) {
  if (listed(kZeroDecimals, code)) return 0;
  if (listed(kThreeDecimals, code)) return 3;
  if (listed(kFourDecimals, code)) return 4;
  return 2;
}

// The decimal digits of |value| rounded half away from zero at `decimals`
// places, starting from the shortest representation (so 1.005 is 1.005, not
// 1.00499999…), grouped by thousands.
std::string format_amount(double value, int decimals) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, std::abs(value), std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  std::size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits += c;
  }
  int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
  // value = 0.digits * 10^(exponent + 1); make it an integer count of 10^-decimals units.
  int int_len = exponent + 1;  // digits before the decimal point
  int keep = int_len + decimals;
  std::string units;
  bool round_up = false;
  if (keep < 0) {
    units = "0";
  } else {
    units = digits.substr(0, std::min<std::size_t>(digits.size(), static_cast<std::size_t>(keep)));
    units.append(static_cast<std::size_t>(keep) - units.size(), '0');
    round_up = static_cast<std::size_t>(keep) < digits.size() &&
               digits[static_cast<std::size_t>(keep)] >= '5';
    if (units.empty()) units = "0";
  }
  if (round_up) {
    int i = static_cast<int>(units.size()) - 1;
    while (i >= 0 && units[static_cast<std::size_t>(i)] == '9')
      units[static_cast<std::size_t>(i--)] = '0';
    if (i < 0) {
      units.insert(0, "1");
    } else {
      ++units[static_cast<std::size_t>(i)];
    }
  }
  if (units.size() <= static_cast<std::size_t>(decimals)) {
    units.insert(0, static_cast<std::size_t>(decimals) + 1 - units.size(), '0');
  }
  std::string whole = units.substr(0, units.size() - static_cast<std::size_t>(decimals));
  std::string fraction = units.substr(units.size() - static_cast<std::size_t>(decimals));
  std::size_t nonzero = whole.find_first_not_of('0');
  whole = nonzero == std::string::npos ? "0" : whole.substr(nonzero);
  std::string grouped;
  for (std::size_t i = 0; i < whole.size(); ++i) {
    if (i > 0 && (whole.size() - i) % 3 == 0) grouped += ',';
    grouped += whole[i];
  }
  if (decimals > 0) grouped += "." + fraction;
  return grouped;
}

}  // namespace

Json money_filter(const Json& input, const Json* const* args, std::size_t argc, RenderState&) {
  auto amount = js_number(input);
  if (input.is_null() || !amount || !std::isfinite(*amount)) return input;
  std::string code = argc >= 1 ? to_liquid_string(*args[0]) : "";
  for (char& c : code) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int decimals = code.empty() ? 2 : minor_units(code);
  std::string number = format_amount(*amount, decimals);
  bool negative = *amount < 0 && number.find_first_not_of("0.,") != std::string::npos;
  std::string out = negative ? "-" : "";
  if (code.empty()) return out + number;
  std::string_view symbol = code;
  for (const Currency& c : kSymbols) {
    if (c.code == code) symbol = c.symbol;
  }
  out += symbol;
  // CLDR currency spacing: a symbol ending in a letter is set apart from the digits.
  char last = symbol.back();
  if ((last >= 'A' && last <= 'Z') || (last >= 'a' && last <= 'z')) out += ' ';
  return out + number;
}

}  // namespace herald::templates
