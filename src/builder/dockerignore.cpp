#include "builder/dockerignore.hpp"

#include <fnmatch.h>

#include <sstream>

namespace berth::builder {
namespace {

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

// filepath.Clean for relative patterns: no empty or "." parts; ".." removes the
// part before it (and at the start stays, matching nothing inside the context).
std::vector<std::string> cleanParts(const std::string& pattern) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(pattern);
  while (std::getline(in, part, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == ".." && !parts.empty() && parts.back() != "..") {
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  return parts;
}

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(path);
  while (std::getline(in, part, '/'))
    if (!part.empty()) parts.push_back(part);
  return parts;
}

// Does the pattern, from part p on, match the path from part i on, or a parent
// of it (a matched directory covers its contents)?
bool matchFrom(const std::vector<std::string>& pattern, std::size_t p, const std::vector<std::string>& path,
               std::size_t i) {
  if (p == pattern.size()) return true;  // the rest of the path lies under a matched directory
  if (pattern[p] == "**") {
    for (std::size_t j = i; j <= path.size(); ++j)
      if (matchFrom(pattern, p + 1, path, j)) return true;
    return false;
  }
  if (i == path.size()) return false;
  if (::fnmatch(pattern[p].c_str(), path[i].c_str(), 0) != 0) return false;
  return matchFrom(pattern, p + 1, path, i + 1);
}

}  // namespace

DockerIgnore DockerIgnore::parse(const std::string& text) {
  DockerIgnore ignore;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    IgnorePattern pattern;
    if (line.front() == '!') {
      pattern.exception = true;
      line = trim(line.substr(1));
    }
    pattern.parts = cleanParts(line);
    if (pattern.parts.empty()) continue;
    ignore.has_exceptions_ = ignore.has_exceptions_ || pattern.exception;
    ignore.patterns_.push_back(std::move(pattern));
  }
  return ignore;
}

bool DockerIgnore::excluded(const std::string& path) const {
  const auto parts = splitPath(path);
  bool out = false;
  for (const auto& pattern : patterns_)
    if (matchFrom(pattern.parts, 0, parts, 0)) out = !pattern.exception;
  return out;
}

}  // namespace berth::builder
