// Byte encodings used on the wire and on disk. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace berth {

std::string toHex(std::string_view bytes);
std::string base64Encode(std::string_view bytes);
// nullopt when `text` is not valid standard base64.
std::optional<std::string> base64Decode(std::string_view text);
// RFC 3986 percent-encoding: unreserved characters (A-Z a-z 0-9 - . _ ~) and
// those in `also_keep` stay, every other byte becomes %XX. The result is one
// URL path segment or query value whatever `text` holds ('/', '?', '..').
std::string percentEncode(std::string_view text, std::string_view also_keep = "");

}  // namespace berth
