// The OpenAPI document (src/server/openapi.json) against the server's route
// table: every route described with its scope, nothing described that no
// route serves. tests/integration/openapi_test.cpp drives each route.
#include "server/openapi.hpp"

#include <gtest/gtest.h>

#include "../../support/api_routes.hpp"
#include "../../support/openapi_coverage.hpp"
#include "common/json.hpp"

namespace berth::server {
namespace {

using berth::testing::RouteEntry;

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += "\n  " + line;
  return out;
}

TEST(OpenApiDocument, DescribesEveryRouteOfTheTableWithItsScope) {
  auto document = parseJson(std::string(openApiDocument()));
  ASSERT_TRUE(document.ok()) << document.error().message;
  // /healthz and /metrics are answered before the table.
  std::vector<RouteEntry> routes = {{"GET", "/healthz", "public"}, {"GET", "/metrics", "public"}};
  const auto table = berth::testing::apiRoutes();
  ASSERT_GT(table.size(), 40u);
  for (const auto& r : table) routes.push_back({r.method, "/api/v1" + r.pattern, scopeName(r.scope)});
  const auto problems = berth::testing::coverageProblems(*document, routes);
  EXPECT_TRUE(problems.empty()) << problems.size() << " problem(s) in src/server/openapi.json:" << joined(problems);
}

TEST(OpenApiDocument, IsServedAsTheSourceFileHasIt) {
  const auto text = openApiDocument();
  EXPECT_EQ(text.substr(0, 1), "{");
  auto document = parseJson(std::string(text));
  ASSERT_TRUE(document.ok());
  EXPECT_EQ((*document)["openapi"], "3.1.0");
  EXPECT_TRUE((*document)["paths"].contains("/api/v1/openapi.json"));
}

const nlohmann::json kSmall = nlohmann::json::parse(R"({
  "openapi": "3.1.0",
  "paths": {
    "/api/v1/apps/{name}": {"get": {"tags": ["apps"], "operationId": "showApp", "x-berth-scope": "read",
      "parameters": [{"name": "name", "in": "path", "required": true}],
      "responses": {"200": {"description": "x", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
  }
})");

TEST(OpenApiCoverage, NamesTheMethodAndPathOfAMissingRoute) {
  const auto problems = berth::testing::coverageProblems(
      kSmall, {{"GET", "/api/v1/apps/{name}", "read"}, {"GET", "/api/v1/audit/verify", "admin"}});
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_EQ(problems[0].rfind("GET /api/v1/audit/verify: route missing", 0), 0u) << problems[0];
}

TEST(OpenApiCoverage, FlagsStaleOperationsWrongScopesAndParameters) {
  auto problems = berth::testing::coverageProblems(kSmall, {});
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("GET /api/v1/apps/{name}: described"), std::string::npos) << problems[0];

  problems = berth::testing::coverageProblems(kSmall, {{"GET", "/api/v1/apps/{name}", "deploy"}});
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("x-berth-scope"), std::string::npos);

  auto renamed = kSmall;
  renamed["paths"]["/api/v1/apps/{app}"] = renamed["paths"]["/api/v1/apps/{name}"];
  renamed["paths"].erase("/api/v1/apps/{name}");
  problems = berth::testing::coverageProblems(renamed, {{"GET", "/api/v1/apps/{app}", "read"}});
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("path parameters"), std::string::npos);

  auto unchecked = kSmall;
  unchecked["paths"]["/api/v1/apps/{name}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
      {"type", "string"}, {"pattern", "^a"}};
  problems = berth::testing::coverageProblems(unchecked, {{"GET", "/api/v1/apps/{name}", "read"}});
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("pattern"), std::string::npos);
}

TEST(OpenApiCoverage, AnswersOutsideTheDocumentAreCaught) {
  using berth::testing::answerProblems;
  const auto document = parseJson(std::string(openApiDocument())).value();
  const std::string whoami = R"({"user":"a","user_id":"u","org":"default","role":"owner","platform_role":"admin",)"
                             R"("key_id":null,"session":false,"scope":"admin"})";
  EXPECT_TRUE(answerProblems(document, "GET", "/api/v1/whoami", 200, "application/json", whoami).empty());
  EXPECT_FALSE(answerProblems(document, "GET", "/api/v1/whoami", 200, "application/json", R"({"user":"a"})").empty());
  EXPECT_FALSE(answerProblems(document, "GET", "/api/v1/whoami", 200, "text/plain", "a").empty());
  EXPECT_FALSE(answerProblems(document, "GET", "/api/v1/whoami", 200, "application/json", "{not json").empty());
  EXPECT_FALSE(answerProblems(document, "GET", "/api/v1/whoami", 404, "application/json", R"({"oops":1})").empty());
  EXPECT_TRUE(answerProblems(document, "GET", "/api/v1/whoami", 404, "application/json",
                             R"({"error":{"code":"not_found","message":"m"}})")
                  .empty());
  EXPECT_FALSE(answerProblems(document, "GET", "/healthz", 503, "application/json", "{}").empty());
  EXPECT_FALSE(answerProblems(document, "POST", "/api/v1/logout", 204, "application/json", "{}").empty());
  EXPECT_FALSE(answerProblems(document, "GET", "/api/v1/nope", 200, "application/json", "{}").empty());
}

}  // namespace
}  // namespace berth::server
