#pragma once

#include <string>
#include <string_view>

namespace herald::templates {

/// The plain-text part of an email whose template has no `text`: tags are
/// stripped, entities decoded, whitespace collapsed as a browser would,
/// paragraphs, headings and block elements become blank-line separated, <br>
/// and list items start new lines (items with "- "), links become
/// "text (url)", images their alt text; <head>, <style> and <script> are dropped.
std::string html_to_text(std::string_view html);

}  // namespace herald::templates
