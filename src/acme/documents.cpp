#include "acme/documents.hpp"

#include <algorithm>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "common/json.hpp"

namespace berth::acme {
namespace {

using nlohmann::json;

constexpr std::size_t kAcmeMaxDepth = 8;  // the deepest document (a problem's subproblems) is 4
constexpr std::size_t kAcmeMaxUrlBytes = 2048;
constexpr std::size_t kAcmeMaxTextBytes = 4096;
constexpr std::size_t kAcmeMaxListItems = 100;  // one order holds at most 100 names at Let's Encrypt

Result<json> acmeObject(std::string_view text, const std::string& what) {
  auto parsed = parseJson(text, kAcmeMaxDepth);
  if (!parsed) return invalidField(what, parsed.error().message);
  if (!parsed->is_object()) return invalidField(what, "must be a JSON object");
  return std::move(parsed.value());
}

// A string member: required unless `required` is false (then "" when absent).
Result<std::string> acmeString(const json& object, const std::string& name, const std::string& field, bool required,
                               std::size_t max_bytes = kAcmeMaxTextBytes) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    if (required) return invalidField(field, "is required");
    return std::string();
  }
  if (!it->is_string()) return invalidField(field, "must be a string");
  const auto& value = it->get_ref<const std::string&>();
  if (value.size() > max_bytes) return invalidField(field, "must be at most " + std::to_string(max_bytes) + " bytes");
  if (required && value.empty()) return invalidField(field, "must not be empty");
  return value;
}

Result<std::string> acmeUrl(const json& object, const std::string& name, const std::string& field, bool required) {
  auto value = acmeString(object, name, field, required, kAcmeMaxUrlBytes);
  if (!value || value->empty()) return value;
  if (value->rfind("https://", 0) != 0) return invalidField(field, "must be an https:// URL");
  const bool printable = std::all_of(value->begin(), value->end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (!printable) return invalidField(field, "must hold only printable ASCII without spaces");
  return value;
}

Result<std::string> acmeStatus(const json& object, const std::string& field,
                               std::initializer_list<const char*> allowed) {
  auto status = acmeString(object, "status", field, true, 32);
  if (!status) return status;
  std::string list;
  for (const char* a : allowed) {
    if (*status == a) return status;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  return invalidField(field, "must be one of " + list + " (got '" + *status + "')");
}

Result<Problem> problemFrom(const json& object, const std::string& field) {
  if (!object.is_object()) return invalidField(field, "must be a JSON object");
  Problem p;
  auto type = acmeString(object, "type", field + ".type", false);
  if (!type) return type.error();
  auto detail = acmeString(object, "detail", field + ".detail", false);
  if (!detail) return detail.error();
  p.type = type->empty() ? "about:blank" : *type;
  p.detail = *detail;
  if (const auto it = object.find("status"); it != object.end() && !it->is_null()) {
    if (!it->is_number_integer()) return invalidField(field + ".status", "must be an integer");
    const auto status = it->get<std::int64_t>();
    if (status < 100 || status > 599) return invalidField(field + ".status", "must be an HTTP status (100-599)");
    p.status = static_cast<int>(status);
  }
  return p;
}

Result<std::optional<Problem>> optionalProblem(const json& object, const std::string& field) {
  const auto it = object.find("error");
  if (it == object.end() || it->is_null()) return std::optional<Problem>();
  auto p = problemFrom(*it, field);
  if (!p) return p.error();
  return std::optional<Problem>(std::move(p.value()));
}

Result<const json*> acmeArray(const json& object, const std::string& name, const std::string& field, bool required) {
  static const json kEmpty = json::array();
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    if (required) return invalidField(field, "is required");
    return &kEmpty;
  }
  if (!it->is_array()) return invalidField(field, "must be an array");
  if (it->size() > kAcmeMaxListItems) return invalidField(field, "must hold at most 100 items");
  return &*it;
}

Result<Identifier> identifierFrom(const json& value, const std::string& field) {
  if (!value.is_object()) return invalidField(field, "must be a JSON object");
  auto type = acmeString(value, "type", field + ".type", true, 32);
  if (!type) return type.error();
  auto id = acmeString(value, "value", field + ".value", true, 253);
  if (!id) return id.error();
  return Identifier{*type, *id};
}

Result<Challenge> challengeFrom(const json& object, const std::string& field) {
  if (!object.is_object()) return invalidField(field, "must be a JSON object");
  Challenge c;
  auto type = acmeString(object, "type", field + ".type", true, 64);
  if (!type) return type.error();
  auto url = acmeUrl(object, "url", field + ".url", true);
  if (!url) return url.error();
  auto status = acmeStatus(object, field + ".status", {"pending", "processing", "valid", "invalid"});
  if (!status) return status.error();
  const bool needs_token = *type == "http-01" || *type == "dns-01" || *type == "tls-alpn-01";
  auto token = acmeString(object, "token", field + ".token", needs_token, 256);
  if (!token) return token.error();
  const bool url_safe = std::all_of(token->begin(), token->end(), [](char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
  });
  if (!url_safe) return invalidField(field + ".token", "must hold only base64url characters [A-Za-z0-9_-]");
  auto error = optionalProblem(object, field + ".error");
  if (!error) return error.error();
  c.type = *type;
  c.url = *url;
  c.status = *status;
  c.token = *token;
  c.error = std::move(error.value());
  return c;
}

}  // namespace

std::string Problem::shortType() const {
  static const std::string kPrefix = "urn:ietf:params:acme:error:";
  return type.rfind(kPrefix, 0) == 0 ? type.substr(kPrefix.size()) : type;
}

Result<Directory> parseDirectory(std::string_view json_text) {
  auto object = acmeObject(json_text, "directory");
  if (!object) return object.error();
  Directory d;
  auto new_nonce = acmeUrl(*object, "newNonce", "directory.newNonce", true);
  if (!new_nonce) return new_nonce.error();
  auto new_account = acmeUrl(*object, "newAccount", "directory.newAccount", true);
  if (!new_account) return new_account.error();
  auto new_order = acmeUrl(*object, "newOrder", "directory.newOrder", true);
  if (!new_order) return new_order.error();
  auto revoke = acmeUrl(*object, "revokeCert", "directory.revokeCert", false);
  if (!revoke) return revoke.error();
  auto key_change = acmeUrl(*object, "keyChange", "directory.keyChange", false);
  if (!key_change) return key_change.error();
  d.new_nonce = *new_nonce;
  d.new_account = *new_account;
  d.new_order = *new_order;
  d.revoke_cert = *revoke;
  d.key_change = *key_change;
  if (const auto meta = object->find("meta"); meta != object->end() && !meta->is_null()) {
    if (!meta->is_object()) return invalidField("directory.meta", "must be a JSON object");
    auto tos = acmeString(*meta, "termsOfService", "directory.meta.termsOfService", false, kAcmeMaxUrlBytes);
    if (!tos) return tos.error();
    d.terms_of_service = *tos;
    if (const auto eab = meta->find("externalAccountRequired"); eab != meta->end() && !eab->is_null()) {
      if (!eab->is_boolean()) return invalidField("directory.meta.externalAccountRequired", "must be a boolean");
      d.external_account_required = eab->get<bool>();
    }
  }
  return d;
}

Result<Order> parseOrder(std::string_view json_text) {
  auto object = acmeObject(json_text, "order");
  if (!object) return object.error();
  Order o;
  auto status = acmeStatus(*object, "order.status", {"pending", "ready", "processing", "valid", "invalid"});
  if (!status) return status.error();
  o.status = *status;
  auto identifiers = acmeArray(*object, "identifiers", "order.identifiers", true);
  if (!identifiers) return identifiers.error();
  for (std::size_t i = 0; i < (*identifiers)->size(); ++i) {
    auto id = identifierFrom((**identifiers)[i], "order.identifiers[" + std::to_string(i) + "]");
    if (!id) return id.error();
    o.identifiers.push_back(std::move(id.value()));
  }
  auto authorizations = acmeArray(*object, "authorizations", "order.authorizations", true);
  if (!authorizations) return authorizations.error();
  for (std::size_t i = 0; i < (*authorizations)->size(); ++i) {
    const json holder{{"u", (**authorizations)[i]}};
    auto url = acmeUrl(holder, "u", "order.authorizations[" + std::to_string(i) + "]", true);
    if (!url) return url.error();
    o.authorizations.push_back(*url);
  }
  auto finalize = acmeUrl(*object, "finalize", "order.finalize", true);
  if (!finalize) return finalize.error();
  o.finalize = *finalize;
  auto certificate = acmeUrl(*object, "certificate", "order.certificate", o.status == "valid");
  if (!certificate) return certificate.error();
  o.certificate = *certificate;
  auto error = optionalProblem(*object, "order.error");
  if (!error) return error.error();
  o.error = std::move(error.value());
  return o;
}

Result<Authorization> parseAuthorization(std::string_view json_text) {
  auto object = acmeObject(json_text, "authorization");
  if (!object) return object.error();
  Authorization a;
  const auto identifier = object->find("identifier");
  if (identifier == object->end()) return invalidField("authorization.identifier", "is required");
  auto id = identifierFrom(*identifier, "authorization.identifier");
  if (!id) return id.error();
  a.identifier = std::move(id.value());
  auto status = acmeStatus(*object, "authorization.status",
                           {"pending", "valid", "invalid", "deactivated", "expired", "revoked"});
  if (!status) return status.error();
  a.status = *status;
  auto challenges = acmeArray(*object, "challenges", "authorization.challenges", true);
  if (!challenges) return challenges.error();
  for (std::size_t i = 0; i < (*challenges)->size(); ++i) {
    auto c = challengeFrom((**challenges)[i], "authorization.challenges[" + std::to_string(i) + "]");
    if (!c) return c.error();
    a.challenges.push_back(std::move(c.value()));
  }
  if (const auto wildcard = object->find("wildcard"); wildcard != object->end() && !wildcard->is_null()) {
    if (!wildcard->is_boolean()) return invalidField("authorization.wildcard", "must be a boolean");
    a.wildcard = wildcard->get<bool>();
  }
  return a;
}

Result<Challenge> parseChallenge(std::string_view json_text) {
  auto object = acmeObject(json_text, "challenge");
  if (!object) return object.error();
  return challengeFrom(*object, "challenge");
}

Result<Problem> parseProblem(std::string_view json_text) {
  auto object = acmeObject(json_text, "problem");
  if (!object) return object.error();
  auto type = acmeString(*object, "type", "problem.type", true);
  if (!type) return type.error();
  return problemFrom(*object, "problem");
}

}  // namespace berth::acme
