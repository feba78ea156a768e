#include "auth/names.hpp"

#include <algorithm>


namespace berth::auth {
namespace {
bool lowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
}  // namespace

Result<void> validateOrgName(const std::string& field, const std::string& name) {
  if (name.empty() || name.size() > 63) return invalidField(field, "must be 1 to 63 characters");
  if (!std::all_of(name.begin(), name.end(), [](char c) { return lowerAlnum(c) || c == '-'; }))
    return invalidField(field, "may contain only lower-case letters, digits and '-' (an RFC 1123 label)");
  if (!lowerAlnum(name.front()) || !lowerAlnum(name.back()))
    return invalidField(field, "must start and end with a letter or digit");
  return Ok{};
}

Result<void> validateUserName(const std::string& field, const std::string& name) {
  if (name.empty() || name.size() > 64) return invalidField(field, "must be 1 to 64 characters");
  if (!std::all_of(name.begin(), name.end(), [](char c) { return lowerAlnum(c) || c == '-' || c == '_' || c == '.'; }))
    return invalidField(field, "may contain only lower-case letters, digits, '.', '_' and '-'");
  if (!lowerAlnum(name.front())) return invalidField(field, "must start with a letter or digit");
  return Ok{};
}

}  // namespace berth::auth
