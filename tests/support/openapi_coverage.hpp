// Compares an OpenAPI document with the route table (pure): which routes the
// document lacks, which operations it describes that no route serves, and
// where the two disagree (scope, path parameters, responses, schema keywords
// the checker in json_schema_check.hpp does not implement).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::testing {

struct RouteEntry {
  std::string method;  // "GET"
  std::string path;    // as the document writes it: "/api/v1/apps/{name}"
  std::string scope;   // "read", "deploy", "admin", "platform", "agent", "public"
};

// One line per problem, naming the method and path first, e.g.
// "GET /api/v1/audit/verify: route missing from src/server/openapi.json".
std::vector<std::string> coverageProblems(const nlohmann::json& document, const std::vector<RouteEntry>& routes);

// The operation object for `method` (any case) and `path`, or null.
const nlohmann::json* findOperation(const nlohmann::json& document, const std::string& method, const std::string& path);

// The response object the operation documents for `status` (its own code, else "default";
// "$ref"s to #/components/responses resolved), or null.
const nlohmann::json* findResponse(const nlohmann::json& document, const nlohmann::json& operation, int status);

// Problems with an answer (status, content type without parameters, body) to `method path`:
// a status the operation does not list, a content type it does not offer, a body where it
// has none, or a JSON body outside its schema. Each names the method and path; empty: conforms.
std::vector<std::string> answerProblems(const nlohmann::json& document, const std::string& method,
                                        const std::string& path, int status, const std::string& content_type,
                                        const std::string& body);

}  // namespace berth::testing
