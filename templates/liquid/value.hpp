#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace herald::templates {

using Json = nlohmann::ordered_json;

/// The JSON null every missing variable resolves to.
const Json& null_json();

/// Appends a number the way JavaScript's Number#toString prints it (what
/// liquidjs outputs): 3, 2.5, 0.1, 1e+21.
void append_js_number(double value, std::string& out);
void append_number(const Json& number, std::string& out);

/// Appends a value as `{{ value }}` prints it: nil is empty, arrays are
/// concatenated, objects print as JSON.
void append_value(const Json& value, std::string& out);
std::string to_liquid_string(const Json& value);

/// JSON.stringify: numbers as JavaScript prints them, indent 0 is compact.
void append_json(const Json& value, int indent, std::string& out);

/// &, <, >, ", ' as liquidjs's `escape` writes them.
void append_html_escaped(std::string_view text, std::string& out);

/// Liquid truthiness: only false and nil are false.
bool is_truthy(const Json& value);
bool liquid_equals(const Json& lhs, const Json& rhs);
bool is_empty_value(const Json& value);
bool is_blank_value(const Json& value);

/// JavaScript's Number(value): nullopt where JavaScript gives NaN.
std::optional<double> js_number(const Json& value);
/// A number for arithmetic filters: an integer when the value is one, else a
/// double; nil and text that is not a number count as 0.
Json arithmetic_operand(const Json& value);

/// UTF-8 helpers; invalid bytes decode as U+FFFD one byte at a time.
char32_t decode_utf8(std::string_view text, std::size_t& pos);
void append_utf8(char32_t cp, std::string& out);
std::size_t utf8_length(std::string_view text);

}  // namespace herald::templates
