// .dockerignore as Docker's classic builder reads it (issue 11): berth builds
// the context tar itself, so it applies the file itself. Pure code.
//
// Rules (as Docker documents them): one pattern per line; '#' starts a comment
// line; surrounding blanks are trimmed; a leading '/' is dropped and the
// pattern is cleaned ("a/./b" -> "a/b"); '*', '?' and '[...]' match within one
// path part, '**' matches any number of parts (none included); '!' makes an
// exception; the last pattern that matches a path decides; a pattern matching
// a directory excludes everything under it unless a later exception matches.
#pragma once

#include <string>
#include <vector>

namespace berth::builder {

struct IgnorePattern {
  std::vector<std::string> parts;  // the cleaned pattern split on '/'
  bool exception = false;          // "!pattern"
};

class DockerIgnore {
 public:
  // Never fails: lines that clean to nothing are skipped, as Docker does.
  static DockerIgnore parse(const std::string& text);
  // `path`: relative to the context, '/'-separated, no "." or ".." parts.
  bool excluded(const std::string& path) const;
  // Whether a directory's contents must still be walked even though the directory
  // itself is excluded (a later exception could bring a file back).
  bool mayReinclude() const { return has_exceptions_; }
  const std::vector<IgnorePattern>& patterns() const { return patterns_; }

 private:
  std::vector<IgnorePattern> patterns_;
  bool has_exceptions_ = false;
};

}  // namespace berth::builder
