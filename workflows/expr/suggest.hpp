#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::expr {

/// Levenshtein distance (insertions, deletions, substitutions) counting a swap of two
/// neighbouring characters as one edit (optimal string alignment); case-sensitive.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `word` when it is close enough to be a likely typo:
/// at most 1 edit for words of up to 3 characters, 2 up to 6, else 3. Ties go to the
/// earlier candidate.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

/// " (did you mean 'X'?)" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace herald::expr
