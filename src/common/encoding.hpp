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

}  // namespace berth
