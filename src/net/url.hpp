// https://host:port URLs, the only form berth dials.
#pragma once

#include <string>

#include "common/result.hpp"

namespace berth::net {

struct Url {
  std::string host;
  std::string port;
  std::string path;  // "/" when absent
};

// Accepts "https://host[:port][/path]" (an IPv6 host in brackets, returned
// without them); port defaults to 443.
Result<Url> parseUrl(const std::string& text);

}  // namespace berth::net
