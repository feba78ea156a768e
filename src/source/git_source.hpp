// An app's source in a git repository (issue 11): what the user gives, checked
// before git is ever invoked. Pure functions; every refusal names the field and
// the rule. The values end up in a git argv vector, never in a shell string,
// but they are still held to the narrowest grammar git itself accepts, so that
// an option ("-u…", "--upload-pack=…"), a path escaping the checkout or a
// control character never reaches git at all.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace berth::source {

enum class GitTransport { Https, Ssh };

struct GitUrl {
  GitTransport transport = GitTransport::Https;
  std::string user;  // ssh: the login ("git" for `git@host:path`); https: empty (the token is separate)
  std::string host;  // lower-cased
  std::uint16_t port = 0;  // 0: the transport's default
  std::string path;        // "/owner/repo.git" (always starts with '/')
  // The URL handed to git: https://host[:port]/path or ssh://user@host[:port]/path.
  std::string canonical() const;
};

// https://host[:port]/path or ssh://user@host[:port]/path or the scp form
// user@host:path. No credentials inside the URL (a token is its own field), no
// query or fragment, no "..", no control or shell characters, at most 2048 bytes.
Result<GitUrl> parseGitUrl(const std::string& field, const std::string& text);

// A branch or tag name (git check-ref-format rules, plus: no leading '-', at
// most 255 bytes) or a full 40-hex commit id.
Result<void> validateGitRef(const std::string& field, const std::string& ref);
bool isFullCommitId(const std::string& ref);

// A path inside the checkout: relative, '/'-separated, no "." or ".." parts,
// no empty parts, no control characters or backslashes, at most 1024 bytes.
// "" is the checkout's root.
Result<void> validateRepoPath(const std::string& field, const std::string& path);

// The fingerprint `ssh-keygen -lf` prints: "SHA256:" and 43 unpadded base64 characters.
Result<void> validateHostKeyFingerprint(const std::string& field, const std::string& fingerprint);

// Build arguments: names as environment variables, values without control
// characters other than tab, at most 64 of them and 32 KiB in all.
Result<void> validateBuildArgs(const std::string& field, const std::map<std::string, std::string>& args);

struct GitSource {
  GitUrl url;
  std::string ref = "main";
  std::string dir;         // sub-directory holding the build context ("" = root)
  std::string dockerfile;  // relative to dir; "" = detect (Dockerfile, else a build plan)
  std::string target;      // Dockerfile stage, "" = last
  std::map<std::string, std::string> build_args;
  std::string host_key;  // ssh: the pinned fingerprint ("" until trusted)
};

}  // namespace berth::source
