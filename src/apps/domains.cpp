#include "apps/domains.hpp"

#include <algorithm>
#include <vector>

#include "apps/app_key.hpp"

namespace berth::apps {
namespace {

bool isLabelChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool isAsciiHexDigit(char c) { return isAsciiDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int asciiHexValue(char c) {
  if (isAsciiDigit(c)) return c - '0';
  return (c | 0x20) - 'a' + 10;
}

std::vector<std::string> splitOn(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto at = text.find(separator, start);
    parts.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

// The last label of a DNS name is never all digits, so such a name is an
// IPv4 literal in some spelling ("1.2.3.4", "127.1", "0x7f.1" aside).
bool looksLikeIpv4(const std::vector<std::string>& labels) {
  const auto& last = labels.back();
  return !last.empty() && std::all_of(last.begin(), last.end(), isAsciiDigit);
}

}  // namespace

Result<std::string> validateDomain(const std::string& text, bool allow_wildcard, const std::string& field) {
  if (text.empty()) return invalidField(field, "must not be empty");
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return invalidField(field, "must not contain control characters (CR, LF, TAB, NUL, ...)");
    if (c >= 0x80)
      return invalidField(field, "must be ASCII; give an internationalised name in punycode (xn--...)");
  }
  if (text.size() > kMaxDomainLength) return invalidField(field, "must be at most 253 characters");
  if (text.find(':') != std::string::npos || text.front() == '[')
    return invalidField(field, "must be a host name, not an IP address or a host:port");
  if (text.back() == '.') return invalidField(field, "must not end with a dot");

  std::string domain = text;
  std::transform(domain.begin(), domain.end(), domain.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  auto labels = splitOn(domain, '.');
  const bool wildcard = labels.front() == "*";
  if (wildcard && !allow_wildcard)
    return invalidField(field, "wildcard domains are not allowed on this server (allow_wildcard_domains)");
  if (labels.size() < (wildcard ? 3U : 2U))
    return invalidField(field, wildcard ? "a wildcard must be followed by at least two labels (*.example.com)"
                                        : "must have at least two labels (example.com)");
  if (looksLikeIpv4(labels)) return invalidField(field, "must be a host name, not an IP address");
  for (std::size_t i = wildcard ? 1 : 0; i < labels.size(); ++i) {
    const auto& label = labels[i];
    if (label.empty()) return invalidField(field, "must not contain an empty label ('..' or a leading dot)");
    if (label.find('*') != std::string::npos)
      return invalidField(field, "a wildcard may only be the whole leftmost label (*.example.com)");
    if (label.size() > kMaxLabelLength) return invalidField(field, "labels must be at most 63 characters");
    if (!std::all_of(label.begin(), label.end(), [](char c) { return isLabelChar(c) || c == '-'; }))
      return invalidField(field, "labels may contain only letters, digits and '-'");
    if (label.front() == '-' || label.back() == '-')
      return invalidField(field, "labels must not start or end with '-'");
  }
  return domain;
}

Result<std::string> validateBaseDomain(const std::string& text, const std::string& field) {
  if (text == "localhost") return text;
  auto domain = validateDomain(text, false, field);
  // Room for "<app>." with the longest app name (63): else that app's generated domain is no domain.
  if (domain && domain->size() > kMaxBaseDomainLength)
    return invalidField(field, "must be at most " + std::to_string(kMaxBaseDomainLength) +
                                   " characters, so that <app>.<base_domain> fits 253 for any app name");
  return domain;
}

Result<std::string> validatePathPrefix(const std::string& text, const std::string& field) {
  if (text.empty() || text.front() != '/') return invalidField(field, "must start with '/'");
  if (text.size() > kMaxPathPrefixLength) return invalidField(field, "must be at most 256 characters");
  // Decoded copy: a percent escape must not smuggle in a separator or a dot
  // segment that the proxy would decode.
  std::string decoded;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isAsciiDigit(c) || c == '-' || c == '.' ||
                       c == '_' || c == '~' || c == '/';
    if (plain) {
      decoded += c;
      continue;
    }
    if (c != '%')
      return invalidField(field, "may contain only A-Z a-z 0-9 - . _ ~ / and %-escapes (no spaces, quotes, ; { } $ # ?)");
    if (i + 2 >= text.size() || !isAsciiHexDigit(text[i + 1]) || !isAsciiHexDigit(text[i + 2]))
      return invalidField(field, "'%' must start an escape of two hex digits (%2F)");
    const auto byte = static_cast<unsigned char>(asciiHexValue(text[i + 1]) * 16 + asciiHexValue(text[i + 2]));
    if (byte < 0x20 || byte == 0x7f) return invalidField(field, "must not encode control characters");
    decoded += static_cast<char>(byte);
    i += 2;
  }
  if (decoded.find("//") != std::string::npos) return invalidField(field, "must not contain '//'");
  for (const auto& segment : splitOn(decoded, '/')) {
    if (segment == "." || segment == "..") return invalidField(field, "must not contain a '.' or '..' segment");
  }
  return text;
}

std::string generatedDomain(const std::string& app, const std::string& base_domain) {
  if (base_domain.empty()) return {};
  return app + "." + base_domain;
}

std::optional<std::string> generatedDomainKey(const std::string& domain, const std::string& base_domain) {
  if (base_domain.empty() || domain.size() <= base_domain.size() + 1) return std::nullopt;
  const std::size_t dot = domain.size() - base_domain.size() - 1;
  if (domain[dot] != '.' || domain.compare(dot + 1, std::string::npos, base_domain) != 0) return std::nullopt;
  const std::string below = domain.substr(0, dot);
  // A wildcard covers the names one label below what it names: "*.<base>" and
  // "*.acme.<base>" cover generated ones, "*.web.acme.<base>" none.
  if (below == "*") return std::string();
  if (below.rfind("*.", 0) == 0) {
    if (below.find('.', 2) == std::string::npos) return std::string();
    return std::nullopt;
  }
  // Three labels or more below the base are no app's ("a.web.acme.<base>").
  if (std::count(below.begin(), below.end(), '.') > 1) return std::nullopt;
  if (!validateAppKey("domain", below)) return std::string();
  return below;
}

}  // namespace berth::apps
