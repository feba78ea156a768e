#include "source/git_source.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <vector>

#include "apps/validation.hpp"

namespace berth::source {
namespace {

constexpr std::size_t kMaxUrl = 2048;
constexpr std::size_t kMaxRef = 255;
constexpr std::size_t kMaxPath = 1024;
constexpr std::size_t kMaxBuildArgs = 64;
constexpr std::size_t kMaxBuildArgBytes = 32 * 1024;

// Characters a shell gives meaning to. None belongs in a git URL, a ref or a
// path berth accepts, so their presence is a refusal rather than something to quote.
constexpr std::string_view kShellCharacters = ";|&$`<>(){}'\"!\\*?[]";

bool isControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

std::string describe(unsigned char c) {
  if (isControl(c) || c >= 0x80) {
    static const char* const kHex = "0123456789abcdef";
    return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 15];
  }
  if (c == ' ') return "a space";
  return std::string("'") + static_cast<char>(c) + "'";
}

// The first control character, space, non-ASCII byte or shell character, if any.
std::optional<unsigned char> firstForbidden(std::string_view text, std::string_view also = "",
                                            std::string_view except = "") {
  for (unsigned char c : text) {
    if (except.find(static_cast<char>(c)) != std::string_view::npos) continue;
    if (isControl(c) || c == ' ' || c >= 0x80 || kShellCharacters.find(static_cast<char>(c)) != std::string_view::npos ||
        also.find(static_cast<char>(c)) != std::string_view::npos)
      return c;
  }
  return std::nullopt;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

bool isHostCharacter(unsigned char c) { return std::isalnum(c) || c == '-' || c == '.'; }

// A DNS name or an IPv4 address (labels of [a-z0-9-], not starting or ending
// with '-'), or an IPv6 address in brackets.
Result<std::string> parseHost(const std::string& field, std::string_view host) {
  if (host.empty()) return invalidField(field, "must name a host");
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 4) return invalidField(field, "an IPv6 host must be in brackets");
    for (unsigned char c : host.substr(1, host.size() - 2))
      if (!std::isxdigit(c) && c != ':' && c != '.') return invalidField(field, "the IPv6 host holds " + describe(c));
    return std::string(host);
  }
  if (host.size() > 253) return invalidField(field, "the host name must be at most 253 characters");
  std::string lower;
  for (unsigned char c : host) {
    if (!isHostCharacter(c)) return invalidField(field, "the host name holds " + describe(c));
    lower.push_back(static_cast<char>(std::tolower(c)));
  }
  for (auto label : split(lower, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return invalidField(field, "the host name's labels must be 1-63 of [a-z0-9-], not starting or ending with '-'");
  }
  return lower;
}

Result<std::uint16_t> parseUrlPort(const std::string& field, std::string_view text) {
  if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }))
    return invalidField(field, "the port must be a number from 1 to 65535");
  const int port = std::stoi(std::string(text));
  if (port < 1 || port > 65535) return invalidField(field, "the port must be a number from 1 to 65535");
  return static_cast<std::uint16_t>(port);
}

// The repository path: '/'-separated, no ".." part, not empty; '%' only as a valid escape.
Result<void> checkUrlPath(const std::string& field, std::string_view path) {
  const auto trimmed = path.substr(path.find_first_not_of('/') == std::string_view::npos ? path.size()
                                                                                            : path.find_first_not_of('/'));
  if (trimmed.empty()) return invalidField(field, "must name a repository path after the host");
  if (auto c = firstForbidden(path)) return invalidField(field, "the path must not contain " + describe(*c));
  for (auto part : split(trimmed, '/')) {
    if (part == "..") return invalidField(field, "the path must not have a '..' part");
    if (!part.empty() && part.front() == '-') return invalidField(field, "a path part must not start with '-'");
  }
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') continue;
    if (i + 2 >= path.size() || !std::isxdigit(static_cast<unsigned char>(path[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(path[i + 2])))
      return invalidField(field, "'%' must start an escape of two hex digits");
  }
  return Ok{};
}

Result<void> checkUser(const std::string& field, std::string_view user) {
  if (user.empty() || user.size() > 64) return invalidField(field, "the ssh user must be 1-64 characters");
  if (user.front() == '-') return invalidField(field, "the ssh user must not start with '-'");
  for (unsigned char c : user)
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.')
      return invalidField(field, "the ssh user must be of [A-Za-z0-9_.-]");
  return Ok{};
}

}  // namespace

std::string GitUrl::canonical() const {
  std::string out = transport == GitTransport::Https ? "https://" : "ssh://" + user + "@";
  out += host;
  if (port != 0) out += ":" + std::to_string(port);
  return out + path;
}

Result<GitUrl> parseGitUrl(const std::string& field, const std::string& text) {
  if (text.empty()) return invalidField(field, "must not be empty");
  if (text.size() > kMaxUrl) return invalidField(field, "must be at most 2048 bytes");
  if (text.front() == '-') return invalidField(field, "must not start with '-' (git would read it as an option)");
  // Brackets may only enclose an IPv6 host (parseHost and checkUrlPath hold them to that).
  if (auto c = firstForbidden(text, "#", "[]")) return invalidField(field, "must not contain " + describe(*c));
  if (const auto helper = text.find("::");
      helper != std::string::npos && std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(helper), [](unsigned char c) {
        return std::isalnum(c) || c == '+' || c == '.' || c == '-';
      }))
    return invalidField(field, "must not use a git remote helper ('transport::address')");

  GitUrl url;
  std::string_view rest;
  if (text.rfind("https://", 0) == 0) {
    url.transport = GitTransport::Https;
    rest = std::string_view(text).substr(8);
  } else if (text.rfind("ssh://", 0) == 0) {
    url.transport = GitTransport::Ssh;
    rest = std::string_view(text).substr(6);
  } else if (text.find("://") != std::string::npos) {
    return invalidField(field, "must be an https:// or ssh:// URL (or user@host:path); other protocols are refused");
  } else {
    // The scp form: [user@]host:path. A '/' before the ':' would make git read it as a local path.
    const auto colon = text.find(':');
    const auto slash = text.find('/');
    if (colon == std::string::npos || (slash != std::string::npos && slash < colon))
      return invalidField(field, "must be an https:// or ssh:// URL, or user@host:path");
    url.transport = GitTransport::Ssh;
    std::string_view authority = std::string_view(text).substr(0, colon);
    const auto at = authority.find('@');
    url.user = at == std::string_view::npos ? "git" : std::string(authority.substr(0, at));
    if (auto r = checkUser(field, url.user); !r) return r.error();
    auto host = parseHost(field, at == std::string_view::npos ? authority : authority.substr(at + 1));
    if (!host) return host.error();
    url.host = *host;
    std::string path(std::string_view(text).substr(colon + 1));
    if (!path.empty() && path.front() == '-') return invalidField(field, "the path must not start with '-'");
    // Relative scp paths are relative to the login's home, which ssh:// spells "/~/".
    url.path = path.empty() || path.front() == '/' ? path : "/~/" + path;
    if (auto r = checkUrlPath(field, url.path); !r) return r.error();
    return url;
  }

  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return invalidField(field, "must name a repository path after the host");
  std::string_view authority = rest.substr(0, slash);
  url.path = std::string(rest.substr(slash));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    if (url.transport == GitTransport::Https)
      return invalidField(field, "must not hold credentials; give the token in its own field, where it is kept sealed");
    url.user = std::string(authority.substr(0, at));
    if (url.user.find(':') != std::string::npos)
      return invalidField(field, "must not hold a password; ssh uses the app's deploy key");
    if (auto r = checkUser(field, url.user); !r) return r.error();
    authority = authority.substr(at + 1);
  } else if (url.transport == GitTransport::Ssh) {
    url.user = "git";
  }
  std::string_view host_part = authority;
  if (const auto colon = authority.rfind(':');
      colon != std::string_view::npos && (authority.front() != '[' || authority.rfind(']') < colon)) {
    auto port = parseUrlPort(field, authority.substr(colon + 1));
    if (!port) return port.error();
    url.port = *port;
    host_part = authority.substr(0, colon);
  }
  auto host = parseHost(field, host_part);
  if (!host) return host.error();
  url.host = *host;
  if (auto r = checkUrlPath(field, url.path); !r) return r.error();
  return url;
}

bool isFullCommitId(const std::string& ref) {
  return ref.size() == 40 &&
         std::all_of(ref.begin(), ref.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<void> validateGitRef(const std::string& field, const std::string& ref) {
  if (ref.empty()) return invalidField(field, "must not be empty");
  if (ref.size() > kMaxRef) return invalidField(field, "must be at most 255 bytes");
  if (isFullCommitId(ref)) return Ok{};
  if (ref.front() == '-') return invalidField(field, "must not start with '-' (git would read it as an option)");
  if (auto c = firstForbidden(ref, "~^:"))
    return invalidField(field, "must not contain " + describe(*c) + " (git check-ref-format)");
  if (ref == "@" || ref.find("@{") != std::string::npos) return invalidField(field, "must not be '@' or contain '@{'");
  if (ref.front() == '/' || ref.back() == '/' || ref.find("//") != std::string::npos)
    return invalidField(field, "must not start or end with '/' or hold an empty part");
  if (ref.back() == '.') return invalidField(field, "must not end with '.'");
  if (ref.find("..") != std::string::npos) return invalidField(field, "must not contain '..'");
  for (auto part : split(ref, '/')) {
    if (part.front() == '.') return invalidField(field, "a part must not start with '.'");
    if (part.size() >= 5 && part.substr(part.size() - 5) == ".lock") return invalidField(field, "a part must not end with '.lock'");
  }
  return Ok{};
}

Result<void> validateRepoPath(const std::string& field, const std::string& path) {
  if (path.empty()) return Ok{};
  if (path.size() > kMaxPath) return invalidField(field, "must be at most 1024 bytes");
  if (path.front() == '/') return invalidField(field, "must be relative to the repository's root");
  if (auto c = firstForbidden(path)) return invalidField(field, "must not contain " + describe(*c));
  for (auto part : split(path, '/')) {
    if (part.empty() || part == "." || part == "..")
      return invalidField(field, "must not have an empty, '.' or '..' part");
    if (part.front() == '-') return invalidField(field, "a part must not start with '-'");
  }
  return Ok{};
}

Result<void> validateHostKeyFingerprint(const std::string& field, const std::string& fingerprint) {
  constexpr std::string_view kPrefix = "SHA256:";
  const bool shaped = fingerprint.size() == kPrefix.size() + 43 && fingerprint.rfind(kPrefix, 0) == 0 &&
                      std::all_of(fingerprint.begin() + kPrefix.size(), fingerprint.end(), [](unsigned char c) {
                        return std::isalnum(c) || c == '+' || c == '/';
                      });
  if (!shaped) return invalidField(field, "must be a SHA256 fingerprint as ssh-keygen -lf prints it (SHA256: and 43 base64 characters)");
  return Ok{};
}

Result<void> validateBuildArgs(const std::string& field, const std::map<std::string, std::string>& args) {
  if (args.size() > kMaxBuildArgs) return invalidField(field, "must hold at most 64 build arguments");
  std::size_t total = 0;
  for (const auto& [name, value] : args) {
    if (auto r = apps::validateEnvName(field + "." + name, name); !r) return r;
    for (unsigned char c : value)
      if ((isControl(c) && c != '\t'))
        return invalidField(field + "." + name, "must not contain " + describe(c));
    total += name.size() + value.size();
  }
  if (total > kMaxBuildArgBytes) return invalidField(field, "must hold at most 32 KiB of names and values");
  return Ok{};
}

}  // namespace berth::source
