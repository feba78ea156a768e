// Domains and path prefixes an app answers at (issue 9, docs/routes.md "Data").
// Pure functions: the server validates with them before anything is stored,
// and the values they accept end up in proxy configuration files, so every
// character that could end a line, a block or a directive there is refused.
#pragma once

#include <optional>
#include <string>

#include "common/result.hpp"

namespace berth::apps {

// Longest domain name (RFC 1035, without the trailing dot) and longest label.
inline constexpr std::size_t kMaxDomainLength = 253;
inline constexpr std::size_t kMaxLabelLength = 63;
inline constexpr std::size_t kMaxPathPrefixLength = 256;
// A base domain leaves room for "<app>." (app names are at most 63 characters).
inline constexpr std::size_t kMaxBaseDomainLength = kMaxDomainLength - 64;
// Custom domains one app may hold: what the agent accepts in a `routing` argument.
inline constexpr std::size_t kMaxDomainsPerApp = 1000;

// Returns the domain lower-cased, or an invalid_argument error naming `field`
// and the rule: at most 253 characters; at least two labels of 1-63
// characters of [a-z0-9-], none starting or ending with '-'; no trailing dot;
// not an IPv4 or IPv6 literal; ASCII only (non-ASCII names in punycode,
// "xn--"); "*" only as the whole leftmost label and only when
// `allow_wildcard` (the server's allow_wildcard_domains), followed by at
// least two labels.
Result<std::string> validateDomain(const std::string& text, bool allow_wildcard,
                                   const std::string& field = "domain");

// A base domain (apps get "<app>.<base>"): validateDomain without wildcards,
// or "localhost" (RFC 6761: its subdomains are loopback without DNS; `berth
// dev`'s default), the one single-label base.
Result<std::string> validateBaseDomain(const std::string& text, const std::string& field = "base_domain");

// Returns the prefix unchanged, or an invalid_argument error naming `field`:
// starts with '/'; only A-Z a-z 0-9 - . _ ~ / %; '%' only as an escape of two
// hex digits that does not decode to a control character; no "." or ".."
// segment (also not percent-encoded); no "//"; at most 256 characters.
Result<std::string> validatePathPrefix(const std::string& text, const std::string& field = "path_prefix");

// "<app>.<base_domain>", or empty when there is no base domain. Both are
// expected valid already (an app name is a DNS label, the base domain passed
// validateDomain at start-up).
std::string generatedDomain(const std::string& app, const std::string& base_domain);

// Whether a custom domain would take a generated one. nullopt: it would not
// (not below `base_domain`, no base domain, or three labels or more below it).
// Otherwise the app key whose generated domain it is ("web" for
// web.<base_domain>, "web.acme" for web.acme.<base_domain>), or "" for a name
// of that depth no app can have ("web.default.<base_domain>") and for a
// wildcard covering generated domains ("*.<base_domain>", "*.acme.<base_domain>"):
// those names belong to generated domains, of apps that exist or not yet, in every org.
std::optional<std::string> generatedDomainKey(const std::string& domain, const std::string& base_domain);

}  // namespace berth::apps
