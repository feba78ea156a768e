// The OpenAPI 3.1 description of the REST API: src/server/openapi.json,
// embedded at build time (src/server/openapi_document.cpp.in) and served at
// GET /api/v1/openapi.json. Edit the JSON file; the build regenerates the rest.
#pragma once

#include <string_view>

namespace berth::server {

// The document's bytes as they are in the source file (valid JSON; the unit
// tests parse it and check it against the route table).
std::string_view openApiDocument();

}  // namespace berth::server
