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

// The length of the Unicode space (UTF-8) at the start of `text`, or 0: Docker trims lines with
// Unicode's notion of space, not ASCII's alone.
std::size_t unicodeSpaceAt(std::string_view text) {
  static constexpr std::string_view kSpaces[] = {"\xC2\x85", "\xC2\xA0", "\xE1\x9A\x80", "\xE2\x80\xA8", "\xE2\x80\xA9",
                                                 "\xE2\x80\xAF", "\xE2\x81\x9F", "\xE3\x80\x80"};
  if (!text.empty() && (blank(text[0]) || text[0] == '\n')) return 1;
  for (const auto space : kSpaces)
    if (text.starts_with(space)) return space.size();
  // U+2000..U+200A: E2 80 80..8A (compared as bytes: char is signed here).
  if (text.size() >= 3 && text[0] == '\xE2' && text[1] == '\x80' && static_cast<unsigned char>(text[2]) >= 0x80 &&
      static_cast<unsigned char>(text[2]) <= 0x8A)
    return 3;
  return 0;
}

std::string_view trimmedLine(std::string_view line) {
  while (const auto n = unicodeSpaceAt(line)) line.remove_prefix(n);
  for (bool more = true; more && !line.empty();) {
    more = false;
    for (std::size_t n = 1; n <= 3 && n <= line.size(); ++n) {
      if (unicodeSpaceAt(line.substr(line.size() - n)) == n) {
        line.remove_suffix(n);
        more = true;
        break;
      }
    }
  }
  return line;
}

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

// Words as Docker splits an ARG's arguments: on blanks outside quotes, an escaped character kept.
std::vector<std::string> quotedWords(std::string_view line, char escape) {
  std::vector<std::string> out;
  std::string word;
  bool inWord = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (!quote && blank(c)) {
      if (inWord) out.push_back(std::move(word));
      word.clear();
      inWord = false;
      continue;
    }
    inWord = true;
    word += c;
    if (c == escape && quote != '\'' && i + 1 < line.size()) {
      word += line[++i];
    } else if (!quote && (c == '"' || c == '\'')) {
      quote = c;
    } else if (quote && c == quote) {
      quote = 0;
    }
  }
  if (inWord) out.push_back(std::move(word));
  return out;
}

struct Instructions {
  std::vector<std::string> lines;
  char escape = '\\';
};

// The instructions, one per entry: continuations joined; comments, blank lines and parser
// directives gone. As Docker reads them: a BOM skipped, directives only at the very top and
// named [A-Za-z][A-Za-z0-9]*, a continuation only where the escape character ends the line but
// for spaces and tabs.
Instructions instructions(std::string_view text) {
  Instructions result;
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  bool directives = true;
  std::string current;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(at, end - at);
    at = end + 1;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    const std::string_view line = trimmedLine(raw);
    if (!line.empty() && line.front() == '#') {
      if (directives) {
        std::string_view d = line.substr(1);
        while (!d.empty() && blank(d.front())) d.remove_prefix(1);
        std::size_t n = 0;
        while (n < d.size() && (std::isalpha(static_cast<unsigned char>(d[n])) ||
                                (n > 0 && std::isdigit(static_cast<unsigned char>(d[n])))))
          ++n;
        const std::string name = lower(d.substr(0, n));
        std::string_view rest = d.substr(n);
        while (!rest.empty() && blank(rest.front())) rest.remove_prefix(1);
        if (n > 0 && !rest.empty() && rest.front() == '=') {
          rest.remove_prefix(1);
          const auto value = words(rest);
          if (name == "escape" && value.size() == 1 && value[0].size() == 1 &&
              (value[0][0] == '`' || value[0][0] == '\\'))
            result.escape = value[0][0];
          continue;  // a directive (unknown ones are ignored, as Docker does)
        }
      }
      directives = false;
      continue;  // a comment, also inside a continued instruction
    }
    directives = false;
    if (line.empty()) continue;  // blank, also inside a continued instruction
    std::string_view tail = raw;
    while (!tail.empty() && (tail.back() == ' ' || tail.back() == '\t')) tail.remove_suffix(1);
    if (!tail.empty() && tail.back() == result.escape) {
      tail.remove_suffix(1);
      current.append(trimmedLine(tail));
      current += ' ';
      continue;
    }
    current.append(line);
    result.lines.push_back(std::move(current));
    current.clear();
  }
  if (current.find_first_not_of(" \t") != std::string::npos) result.lines.push_back(current);
  return result;
}

// A word as Docker's shell lexer reads it: quotes removed, the escape character taking the next
// one literally (not in single quotes), and $NAME, ${NAME}, ${NAME:-word}, ${NAME:+word}, $1
// expanded from `args` (unset: empty).
std::string processWord(std::string_view text, const std::map<std::string, std::string>& args, char escape) {
  std::string out;
  char quote = 0;
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (quote != '\'' && c == escape && i + 1 < text.size()) {
      out += text[i + 1];
      i += 2;
      continue;
    }
    if (!quote && (c == '"' || c == '\'')) {
      quote = c;
      ++i;
      continue;
    }
    if (quote && c == quote) {
      quote = 0;
      ++i;
      continue;
    }
    if (c != '$' || quote == '\'' || i + 1 >= text.size()) {
      out += c;
      ++i;
      continue;
    }
    std::string name, word, mode;
    if (text[i + 1] == '{') {
      // The closing brace of this expansion, nested ones skipped.
      std::size_t close = i + 2;
      for (int depth = 1; close < text.size(); ++close) {
        if (text[close] == '{') ++depth;
        if (text[close] == '}' && --depth == 0) break;
      }
      if (close >= text.size()) {
        out += text.substr(i);
        break;
      }
      std::string_view inner = text.substr(i + 2, close - i - 2);
      if (const auto colon = inner.find(':'); colon != std::string_view::npos && colon + 1 < inner.size()) {
        mode = std::string(inner.substr(colon + 1, 1));
        word = processWord(inner.substr(colon + 2), args, escape);
        inner = inner.substr(0, colon);
      }
      name = std::string(inner);
      i = close + 1;
    } else if (std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
      name = std::string(1, text[i + 1]);
      i += 2;
    } else {
      std::size_t j = i + 1;
      while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) ++j;
      if (j == i + 1) {
        out += c;
        ++i;
        continue;
      }
      name = std::string(text.substr(i + 1, j - i - 1));
      i = j;
    }
    const auto it = args.find(name);
    const bool set = it != args.end() && !it->second.empty();
    if (mode == "-") out += set ? it->second : word;
    else if (mode == "+") out += set ? word : "";
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
  const auto parsed = instructions(dockerfile);
  // ARGs before the first FROM, and the proxy arguments Docker allows undeclared.
  std::map<std::string, std::string> globals;
  for (const char* name : {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                           "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}) {
    if (const auto given = build_args.find(name); given != build_args.end()) globals[name] = given->second;
  }
  bool seenFrom = false;
  std::set<std::string> stages;
  std::vector<std::string> out;
  const auto add = [&](const std::string& image) {
    if (image.empty() || lower(image) == "scratch" || stages.count(lower(image))) return;
    if (std::find(out.begin(), out.end(), image) == out.end()) out.push_back(image);
  };
  for (const auto& instruction : parsed.lines) {
    auto w = words(instruction);
    if (w.empty()) continue;
    const std::string keyword = lower(w[0]);
    if (keyword == "arg" && !seenFrom) {
      const auto args = quotedWords(std::string_view(instruction).substr(instruction.find(w[0]) + w[0].size()), parsed.escape);
      for (const auto& arg : args) {
        const auto equals = arg.find('=');
        const std::string name = arg.substr(0, equals);
        const auto given = build_args.find(name);
        if (given != build_args.end()) globals[name] = given->second;
        else if (equals != std::string::npos) globals[name] = processWord(arg.substr(equals + 1), globals, parsed.escape);
        else globals[name] = globals.count(name) ? globals[name] : "";
      }
    } else if (keyword == "from") {
      seenFrom = true;
      std::size_t i = 1;
      while (i < w.size() && w[i].rfind("--", 0) == 0) ++i;  // --platform=...
      if (i >= w.size()) continue;
      add(processWord(w[i], globals, parsed.escape));
      if (i + 2 < w.size() && lower(w[i + 1]) == "as") stages.insert(lower(w[i + 2]));
    } else if (keyword == "copy" || keyword == "add") {
      for (std::size_t i = 1; i < w.size() && w[i].rfind("--", 0) == 0; ++i) {
        if (lower(w[i]).rfind("--from=", 0) != 0) continue;
        const std::string from = processWord(w[i].substr(7), {}, parsed.escape);
        if (!allDigits(from)) add(from);
      }
    }
  }
  return out;
}

}  // namespace berth::builder
