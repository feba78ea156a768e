// A checker for the subset of JSON Schema (2020-12, as OpenAPI 3.1 uses it)
// that src/server/openapi.json uses: type, properties, required,
// additionalProperties, items, enum, const, anyOf, minimum, maximum and
// "$ref": "#/..." into the document, plus annotations (description, ...).
// Pure: values in, problems out. unsupportedKeywords() lists every keyword of
// a schema outside that subset, so a test fails instead of the checker
// silently passing what it does not understand.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::testing {

// Problems with `value` against `schema`, each "<pointer>: <rule>" ("/nodes/0/id: must be
// a string"); empty when it conforms. `root` is the document "$ref"s resolve in.
std::vector<std::string> schemaProblems(const nlohmann::json& root, const nlohmann::json& schema,
                                        const nlohmann::json& value);

// Every keyword under `schema` (recursively, "$ref"s not followed) the checker does
// not implement, as "<where>: <keyword>".
std::vector<std::string> unsupportedKeywords(const nlohmann::json& schema, const std::string& where);

}  // namespace berth::testing
