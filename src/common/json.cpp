#include "common/json.hpp"

namespace berth {

std::size_t jsonNestingDepth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0, deepest = 0;
  bool inString = false, escaped = false;
  for (char c : text) {
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
      continue;
    }
    switch (c) {
      case '"':
        inString = true;
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > limit) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;  // unbalanced text is the parser's to refuse
        break;
      default:
        break;
    }
  }
  return deepest;
}

Result<nlohmann::json> parseJson(std::string_view text, std::size_t max_depth) {
  if (jsonNestingDepth(text, max_depth) > max_depth) {
    return makeError("too_deep", "JSON nested deeper than " + std::to_string(max_depth) + " levels");
  }
  auto value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) return makeError("malformed_json", "not valid JSON");
  return value;
}

nlohmann::json parseJsonOrDiscarded(std::string_view text, std::size_t max_depth) {
  auto parsed = parseJson(text, max_depth);
  if (!parsed) return nlohmann::json(nlohmann::json::value_t::discarded);
  return std::move(*parsed);
}

std::string dumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string truncateUtf8(std::string text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the sequence that straddles the cut.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80 && max_bytes - cut < 3) --cut;
  text.resize(cut);
  return text;
}

}  // namespace berth
