#include "openapi_coverage.hpp"

#include <algorithm>
#include <set>

#include "common/json.hpp"
#include "json_schema_check.hpp"

namespace berth::testing {
namespace {

const std::set<std::string> kMethods = {"get", "put", "post", "delete", "patch", "head", "options"};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

const nlohmann::json* resolve(const nlohmann::json& document, const nlohmann::json& item) {
  if (!item.is_object() || !item.contains("$ref") || !item["$ref"].is_string()) return &item;
  const auto ref = item["$ref"].get<std::string>();
  if (ref.rfind("#/", 0) != 0) return nullptr;
  try {
    const auto pointer = nlohmann::json::json_pointer(ref.substr(1));
    return document.contains(pointer) ? &document.at(pointer) : nullptr;
  } catch (const nlohmann::json::exception&) {
    return nullptr;
  }
}

std::set<std::string> templateNames(const std::string& path) {
  std::set<std::string> out;
  for (std::size_t open = path.find('{'); open != std::string::npos; open = path.find('{', open + 1)) {
    const auto close = path.find('}', open);
    if (close == std::string::npos) break;
    out.insert(path.substr(open + 1, close - open - 1));
  }
  return out;
}

// Problems inside one operation that make it unusable for clients or for the response check.
void checkOperation(const nlohmann::json& document, const std::string& name, const std::string& path,
                    const nlohmann::json& operation, std::vector<std::string>& out) {
  if (!operation.contains("tags") || !operation["tags"].is_array() || operation["tags"].empty())
    out.push_back(name + ": has no tag");
  if (!operation.contains("operationId")) out.push_back(name + ": has no operationId");
  std::set<std::string> declared;
  for (const auto& p : operation.value("parameters", nlohmann::json::array())) {
    const auto* param = resolve(document, p);
    if (!param) {
      out.push_back(name + ": unresolvable parameter " + p.dump());
      continue;
    }
    if (param->value("in", "") == "path") declared.insert(param->value("name", ""));
  }
  if (declared != templateNames(path)) out.push_back(name + ": path parameters declared do not match the path");
  const auto responses = operation.value("responses", nlohmann::json::object());
  if (responses.empty()) out.push_back(name + ": documents no response");
  for (const auto& [code, r] : responses.items()) {
    const auto* response = resolve(document, r);
    if (!response) {
      out.push_back(name + ": response " + code + " has an unresolvable $ref");
      continue;
    }
    const auto content = response->value("content", nlohmann::json::object());  // items() needs it alive
    for (const auto& [type, media] : content.items()) {
      for (const auto& bad :
           unsupportedKeywords(media.value("schema", nlohmann::json::object()), name + " " + code + " " + type))
        out.push_back(bad + " (keyword the response check does not implement)");
    }
  }
}

}  // namespace

std::vector<std::string> coverageProblems(const nlohmann::json& document, const std::vector<RouteEntry>& routes) {
  std::vector<std::string> out;
  if (!document.is_object() || document.value("openapi", "") != "3.1.0")
    out.push_back("document: openapi must be \"3.1.0\"");
  const auto paths =
      document.is_object() ? document.value("paths", nlohmann::json::object()) : nlohmann::json::object();
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& route : routes) {
    const std::string name = route.method + " " + route.path;
    served.insert({lower(route.method), route.path});
    const auto* operation = findOperation(document, route.method, route.path);
    if (!operation) {
      out.push_back(name +
                    ": route missing from src/server/openapi.json (add it under \"paths\", tag and x-berth-scope \"" +
                    route.scope + "\")");
      continue;
    }
    if (operation->value("x-berth-scope", "") != route.scope)
      out.push_back(name + ": x-berth-scope is " + operation->value("x-berth-scope", nlohmann::json("(none)")).dump() +
                    ", the route needs \"" + route.scope + "\"");
  }
  for (const auto& [path, item] : paths.items()) {
    if (!item.is_object()) continue;
    for (const auto& [method, operation] : item.items()) {
      if (!kMethods.count(method)) continue;
      const std::string name = upper(method) + " " + path;
      if (!served.count({method, path}))
        out.push_back(name + ": described in src/server/openapi.json but no route serves it");
      checkOperation(document, name, path, operation, out);
    }
  }
  const auto schemas = document.value("/components/schemas"_json_pointer, nlohmann::json::object());
  for (const auto& [name, schema] : schemas.items())
    for (const auto& bad : unsupportedKeywords(schema, "#/components/schemas/" + name))
      out.push_back(bad + " (keyword the response check does not implement)");
  return out;
}

const nlohmann::json* findOperation(const nlohmann::json& document, const std::string& method,
                                    const std::string& path) {
  if (!document.is_object() || !document.contains("paths") || !document["paths"].contains(path)) return nullptr;
  const auto& item = document["paths"][path];
  const auto key = lower(method);
  return item.is_object() && item.contains(key) ? &item[key] : nullptr;
}

const nlohmann::json* findResponse(const nlohmann::json& document, const nlohmann::json& operation, int status) {
  if (!operation.contains("responses")) return nullptr;
  const auto& responses = operation["responses"];
  const auto code = std::to_string(status);
  if (responses.contains(code)) return resolve(document, responses[code]);
  if (responses.contains("default")) return resolve(document, responses["default"]);
  return nullptr;
}

std::vector<std::string> answerProblems(const nlohmann::json& document, const std::string& method,
                                        const std::string& path, int status, const std::string& content_type,
                                        const std::string& body) {
  const std::string name = method + " " + path;
  const auto* operation = findOperation(document, method, path);
  if (!operation) return {name + ": not in the document"};
  const auto* response = findResponse(document, *operation, status);
  if (!response)
    return {name + ": answered " + std::to_string(status) +
            ", a status the document does not list: " + body.substr(0, 200)};
  const auto content = response->value("content", nlohmann::json::object());
  if (content.empty()) {
    if (!body.empty()) return {name + ": answered a body where the document has none"};
    return {};
  }
  if (!content.contains(content_type))
    return {name + ": answered content type '" + content_type + "', the document allows " +
            content.dump().substr(0, 120)};
  if (content_type != "application/json") return {};
  const auto parsed = parseJsonOrDiscarded(body);
  if (parsed.is_discarded()) return {name + ": answered JSON that does not parse"};
  std::vector<std::string> out;
  for (const auto& problem :
       schemaProblems(document, content[content_type].value("schema", nlohmann::json::object()), parsed))
    out.push_back(name + " (" + std::to_string(status) + "): " + problem);
  return out;
}

}  // namespace berth::testing
