// The response-shape checker the OpenAPI tests rely on: if it let a wrong
// shape through, tests/integration/openapi_test.cpp would prove nothing.
#include "../../support/json_schema_check.hpp"

#include <gtest/gtest.h>

namespace berth::testing {
namespace {

const nlohmann::json kRoot = nlohmann::json::parse(R"({
  "components": {"schemas": {
    "Item": {"type": "object", "additionalProperties": false, "required": ["id"],
             "properties": {"id": {"type": "string"}, "n": {"type": "integer", "minimum": 0, "maximum": 9},
                            "state": {"enum": ["a", "b"]}, "owner": {"type": ["string", "null"]}}},
    "Loop": {"$ref": "#/components/schemas/Loop"}
  }}
})");
const nlohmann::json kList = {{"type", "array"}, {"items", {{"$ref", "#/components/schemas/Item"}}}};

TEST(JsonSchemaCheck, AcceptsConformingValues) {
  EXPECT_TRUE(
      schemaProblems(kRoot, kList,
                     nlohmann::json::parse(R"([{"id": "x"}, {"id": "y", "n": 3, "state": "b", "owner": null}])"))
          .empty());
}

TEST(JsonSchemaCheck, NamesWhereAndWhichRuleAValueBreaks) {
  auto problems = schemaProblems(kRoot, kList, nlohmann::json::parse(R"([{"id": "x"}, {"id": 5}])"));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].rfind("/1/id: must be of type \"string\"", 0), 0u) << problems[0];
  EXPECT_FALSE(schemaProblems(kRoot, kList, nlohmann::json::parse(R"([{"n": 1}])")).empty());             // required
  EXPECT_FALSE(schemaProblems(kRoot, kList, nlohmann::json::parse(R"([{"id": "x", "x": 1}])")).empty());  // extra
  EXPECT_FALSE(schemaProblems(kRoot, kList, nlohmann::json::parse(R"([{"id": "x", "state": "c"}])")).empty());
  EXPECT_FALSE(schemaProblems(kRoot, kList, nlohmann::json::parse(R"([{"id": "x", "n": 10}])")).empty());
  EXPECT_FALSE(schemaProblems(kRoot, kList, nlohmann::json::parse(R"([{"id": "x", "n": -1}])")).empty());
  EXPECT_FALSE(schemaProblems(kRoot, kList, nlohmann::json::parse(R"([{"id": "x", "n": 1.5}])")).empty());
  EXPECT_FALSE(schemaProblems(kRoot, kList, nlohmann::json::parse(R"([{"id": "x", "owner": 1}])")).empty());
  EXPECT_FALSE(schemaProblems(kRoot, kList, nlohmann::json::parse(R"({"id": "x"})")).empty());
}

TEST(JsonSchemaCheck, AnyOfConstAndBooleanSchemas) {
  const auto schema = nlohmann::json::parse(R"({"anyOf": [{"$ref": "#/components/schemas/Item"}, {"type": "null"}]})");
  EXPECT_TRUE(schemaProblems(kRoot, schema, nullptr).empty());
  EXPECT_TRUE(schemaProblems(kRoot, schema, {{"id", "x"}}).empty());
  EXPECT_FALSE(schemaProblems(kRoot, schema, {{"id", 1}}).empty());
  EXPECT_FALSE(schemaProblems(kRoot, {{"const", "ok"}}, "no").empty());
  EXPECT_TRUE(schemaProblems(kRoot, true, 1).empty());
  EXPECT_FALSE(schemaProblems(kRoot, false, 1).empty());
}

TEST(JsonSchemaCheck, RefsOutsideTheDocumentOrInACycleAreProblemsNotPasses) {
  EXPECT_FALSE(schemaProblems(kRoot, {{"$ref", "#/components/schemas/Missing"}}, 1).empty());
  EXPECT_FALSE(schemaProblems(kRoot, {{"$ref", "https://example.com/schema.json"}}, 1).empty());
  EXPECT_FALSE(schemaProblems(kRoot, {{"$ref", "#/components/schemas/Loop"}}, 1).empty());
}

TEST(JsonSchemaCheck, ListsKeywordsItDoesNotImplement) {
  const auto schema = nlohmann::json::parse(
      R"({"type": "object", "description": "d", "properties": {"a": {"type": "string", "pattern": "^x$"}},
          "items": {"oneOf": []}, "anyOf": [{"minLength": 1}]})");
  auto unknown = unsupportedKeywords(schema, "S");
  std::sort(unknown.begin(), unknown.end());
  EXPECT_EQ(unknown, (std::vector<std::string>{"S/anyOf/0: minLength", "S/items: oneOf", "S/properties/a: pattern"}));
}

}  // namespace
}  // namespace berth::testing
