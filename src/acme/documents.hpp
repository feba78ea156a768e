// ACME (RFC 8555) resource documents parsed from the server's JSON text:
// directory, order, authorization, challenge and problem. Pure; every field
// is checked (type, allowed values, https URLs, token characters) and a
// refusal names the field and the rule ("invalid_argument").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace berth::acme {

struct Directory {
  std::string new_nonce, new_account, new_order;  // required
  std::string revoke_cert, key_change;            // optional
  std::string terms_of_service;                   // meta.termsOfService, optional
  bool external_account_required = false;         // meta.externalAccountRequired
};

struct Problem {
  std::string type;  // "urn:ietf:params:acme:error:badNonce", ...
  std::string detail;
  int status = 0;
  // The part after "urn:ietf:params:acme:error:", or the whole type.
  std::string shortType() const;
};

struct Identifier {
  std::string type;  // "dns"
  std::string value;
};

struct Challenge {
  std::string type;    // "http-01", "dns-01", ... (unknown types are kept, not used)
  std::string url;
  std::string status;  // pending | processing | valid | invalid
  std::string token;   // base64url characters only (it names a file); may be empty for unknown types
  std::optional<Problem> error;
};

struct Authorization {
  Identifier identifier;
  std::string status;  // pending | valid | invalid | deactivated | expired | revoked
  std::vector<Challenge> challenges;
  bool wildcard = false;
};

struct Order {
  std::string status;  // pending | ready | processing | valid | invalid
  std::vector<Identifier> identifiers;
  std::vector<std::string> authorizations;
  std::string finalize;
  std::string certificate;  // present once valid
  std::optional<Problem> error;
};

Result<Directory> parseDirectory(std::string_view json_text);
Result<Order> parseOrder(std::string_view json_text);
Result<Authorization> parseAuthorization(std::string_view json_text);
Result<Challenge> parseChallenge(std::string_view json_text);
// An application/problem+json body; fails when `json_text` is not one.
Result<Problem> parseProblem(std::string_view json_text);

}  // namespace berth::acme
