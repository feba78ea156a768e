#include "builder/dockerfile_images.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace berth::builder {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }  // Docker's separators

std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && blank(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !blank(line[i])) ++i;
    if (i > start) out.emplace_back(line.substr(start, i - start));
  }
  return out;
}

// The instructions, one per entry: continuations joined; comments, blank lines and parser
// directives gone.
std::vector<std::string> instructions(std::string_view text) {
  char escape = '\\';
  bool directives = true;  // only at the very top, before any other line
  std::vector<std::string> out;
  std::string current;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && blank(line.front())) line.remove_prefix(1);
    while (!line.empty() && blank(line.back())) line.remove_suffix(1);
    if (!line.empty() && line.front() == '#') {
      if (directives) {
        const std::string directive = lower(line.substr(1));
        const auto equals = directive.find('=');
        std::string name = directive.substr(0, equals);
        std::erase_if(name, blank);
        if (equals != std::string::npos && (name == "escape" || name == "syntax" || name == "check")) {
          const auto value = words(std::string_view(directive).substr(equals + 1));
          if (name == "escape" && !value.empty() && value[0].size() == 1) escape = value[0][0];
          continue;
        }
      }
      directives = false;
      continue;  // a comment, also inside a continued instruction
    }
    directives = false;
    if (line.empty()) continue;  // blank, also inside a continued instruction
    if (line.back() == escape) {
      current.append(line.substr(0, line.size() - 1));
      current += ' ';
      continue;
    }
    current.append(line);
    out.push_back(std::move(current));
    current.clear();
  }
  if (current.find_first_not_of(" \t") != std::string::npos) out.push_back(current);
  return out;
}

// $NAME, ${NAME}, ${NAME:-default} and ${NAME:+alt} from `args` (unset: empty).
std::string expand(const std::string& text, const std::map<std::string, std::string>& args) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out += text[i++];
      continue;
    }
    std::string name, fallback, mode;
    if (text[i + 1] == '{') {
      const auto close = text.find('}', i + 2);
      if (close == std::string::npos) {
        out += text.substr(i);
        break;
      }
      std::string inner = text.substr(i + 2, close - i - 2);
      if (const auto colon = inner.find(':'); colon != std::string::npos && colon + 1 < inner.size()) {
        mode = inner.substr(colon + 1, 1);
        fallback = inner.substr(colon + 2);
        inner = inner.substr(0, colon);
      }
      name = inner;
      i = close + 1;
    } else {
      std::size_t j = i + 1;
      while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) ++j;
      name = text.substr(i + 1, j - i - 1);
      if (name.empty()) {
        out += text[i++];
        continue;
      }
      i = j;
    }
    const auto it = args.find(name);
    const bool set = it != args.end() && !it->second.empty();
    if (mode == "-") out += set ? it->second : fallback;
    else if (mode == "+") out += set ? fallback : "";
    else if (set) out += it->second;
  }
  return out;
}

bool allDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::vector<std::string> externalImages(std::string_view dockerfile,
                                        const std::map<std::string, std::string>& build_args) {
  std::map<std::string, std::string> globals;  // ARGs before the first FROM
  bool seenFrom = false;
  std::set<std::string> stages;
  std::vector<std::string> out;
  const auto add = [&](const std::string& image) {
    if (image.empty() || lower(image) == "scratch" || stages.count(lower(image))) return;
    if (std::find(out.begin(), out.end(), image) == out.end()) out.push_back(image);
  };
  for (const auto& instruction : instructions(dockerfile)) {
    auto w = words(instruction);
    if (w.empty()) continue;
    const std::string keyword = lower(w[0]);
    if (keyword == "arg" && !seenFrom) {
      for (std::size_t i = 1; i < w.size(); ++i) {
        const auto equals = w[i].find('=');
        const std::string name = w[i].substr(0, equals);
        std::string value = equals == std::string::npos ? "" : w[i].substr(equals + 1);
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
          value = value.substr(1, value.size() - 2);
        const auto given = build_args.find(name);
        globals[name] = given != build_args.end() ? given->second : expand(value, globals);
      }
    } else if (keyword == "from") {
      seenFrom = true;
      std::size_t i = 1;
      while (i < w.size() && w[i].rfind("--", 0) == 0) ++i;  // --platform=...
      if (i >= w.size()) continue;
      add(expand(w[i], globals));
      if (i + 2 < w.size() && lower(w[i + 1]) == "as") stages.insert(lower(w[i + 2]));
    } else if (keyword == "copy" || keyword == "add") {
      for (std::size_t i = 1; i < w.size() && w[i].rfind("--", 0) == 0; ++i) {
        if (lower(w[i]).rfind("--from=", 0) != 0) continue;
        const std::string from = w[i].substr(7);
        if (!allDigits(from)) add(from);
      }
    }
  }
  return out;
}

}  // namespace berth::builder
