#include "apps/label_selector.hpp"

#include <algorithm>

namespace berth::apps {
namespace {

constexpr std::size_t kMaxKey = 63;
constexpr std::size_t kMaxValue = 128;
constexpr std::size_t kMaxText = kMaxSelectorPairs * (kMaxKey + kMaxValue + 2);

bool controlCharacter(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

}  // namespace

Result<LabelSelector> parseLabelSelector(const std::string& field, const std::string& text) {
  const auto bad = [&](const std::string& rule) { return invalidField(field, rule); };
  if (text.empty()) return bad("must be key=value[,key=value]");
  if (text.size() > kMaxText) return bad("must be at most " + std::to_string(kMaxText) + " characters");
  if (std::any_of(text.begin(), text.end(), controlCharacter)) return bad("must not contain control characters");
  LabelSelector out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string pair = text.substr(start, comma - start);
    start = comma + 1;
    const std::size_t eq = pair.find('=');
    if (pair.empty() || eq == std::string::npos) return bad("each pair must be key=value ('" + pair + "' is not)");
    const std::string key = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (key.empty() || key.size() > kMaxKey) return bad("label key '" + key + "' must be 1-" + std::to_string(kMaxKey) + " characters");
    if (value.size() > kMaxValue) return bad("label value of '" + key + "' must be at most " + std::to_string(kMaxValue) + " characters");
    if (!out.emplace(key, value).second) return bad("label key '" + key + "' is given twice");
    if (out.size() > kMaxSelectorPairs) return bad("must hold at most " + std::to_string(kMaxSelectorPairs) + " pairs");
    if (comma == text.size()) break;
  }
  return out;
}

std::string selectorText(const LabelSelector& selector) {
  std::string out;
  for (const auto& [key, value] : selector) {
    if (!out.empty()) out += ',';
    out += key + "=" + value;
  }
  return out;
}

bool selectorMatches(const LabelSelector& selector, const std::map<std::string, std::string>& labels) {
  return std::all_of(selector.begin(), selector.end(), [&](const auto& pair) {
    auto it = labels.find(pair.first);
    return it != labels.end() && it->second == pair.second;
  });
}

}  // namespace berth::apps
