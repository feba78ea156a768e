#include "protocol/envelope.hpp"
#include "common/ids.hpp"
#include "common/json.hpp"

#include <array>
#include <set>
#include <tuple>

namespace berth::protocol {
namespace {

constexpr std::array<std::pair<FrameType, std::string_view>, 9> kTypeNames{{
    {FrameType::Hello, "HELLO"},
    {FrameType::Welcome, "WELCOME"},
    {FrameType::Heartbeat, "HEARTBEAT"},
    {FrameType::Telemetry, "TELEMETRY"},
    {FrameType::Command, "COMMAND"},
    {FrameType::Result, "RESULT"},
    {FrameType::Log, "LOG"},
    {FrameType::Event, "EVENT"},
    {FrameType::Error, "ERROR"},
}};

constexpr std::size_t kMaxIdLength = 128;

Error schemaError(const std::string& field, const std::string& rule) {
  return makeError(codes::kSchema, "field '" + field + "': " + rule);
}

// Reads an optional string field; fails when present with another type or too long.
Result<std::string> stringField(const nlohmann::json& obj, const char* name, bool required) {
  auto it = obj.find(name);
  if (it == obj.end()) {
    if (required) return schemaError(name, "is required");
    return std::string();
  }
  if (!it->is_string()) return schemaError(name, "must be a string");
  auto value = it->get<std::string>();
  if (std::string_view(name) != "signature" && value.size() > kMaxIdLength) {
    return schemaError(name, "must be at most 128 characters");
  }
  return value;
}

Result<std::int64_t> timeField(const nlohmann::json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) return schemaError(name, "is required");
  if (!it->is_number_integer()) return schemaError(name, "must be an integer (unix milliseconds)");
  return it->get<std::int64_t>();
}

}  // namespace

std::string_view frameTypeName(FrameType type) {
  for (const auto& [t, name] : kTypeNames) {
    if (t == type) return name;
  }
  return "UNKNOWN";
}

std::optional<FrameType> parseFrameType(std::string_view name) {
  for (const auto& [t, n] : kTypeNames) {
    if (n == name) return t;
  }
  return std::nullopt;
}

nlohmann::json toJson(const Envelope& e, bool include_signature) {
  nlohmann::json j = {
      {"type", frameTypeName(e.type)}, {"agent_id", e.agent_id}, {"issued_at", e.issued_at},
      {"expires_at", e.expires_at},    {"nonce", e.nonce},
  };
  if (!e.correlation_id.empty()) j["correlation_id"] = e.correlation_id;
  if (e.type == FrameType::Command) {
    j["verb"] = e.verb;
    j["args"] = e.args;
  } else {
    j["data"] = e.data;
  }
  if (e.error) j["error"] = {{"code", e.error->code}, {"message", e.error->message}};
  if (include_signature && !e.signature.empty()) j["signature"] = e.signature;
  return j;
}

std::string serialize(const Envelope& envelope) { return dumpJson(toJson(envelope)); }

Envelope newEnvelope(FrameType type, std::string agent_id, std::int64_t now_ms, std::int64_t lifetime_ms) {
  Envelope e;
  e.type = type;
  e.agent_id = std::move(agent_id);
  e.issued_at = now_ms;
  e.expires_at = now_ms + lifetime_ms;
  e.nonce = randomHex(16);
  return e;
}

Result<Envelope> parse(std::string_view bytes, std::size_t max_bytes) {
  if (bytes.size() > max_bytes) {
    return makeError(codes::kTooLarge, "frame of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                                           std::to_string(max_bytes));
  }
  auto parsed = parseJson(bytes);
  if (!parsed) return makeError(codes::kMalformed, "frame is not valid JSON: " + parsed.error().message);
  // Not const: args and data are moved out, not copied (a telemetry frame's data is most of it).
  auto& j = *parsed;
  if (!j.is_object()) return makeError(codes::kMalformed, "frame must be a JSON object");

  Envelope e;
  auto typeName = stringField(j, "type", true);
  if (!typeName) return typeName.error();
  auto type = parseFrameType(*typeName);
  if (!type) return schemaError("type", "unknown frame type '" + *typeName + "'");
  e.type = *type;

  for (auto [name, target, required] :
       std::initializer_list<std::tuple<const char*, std::string*, bool>>{{"agent_id", &e.agent_id, false},
                                                                          {"nonce", &e.nonce, true},
                                                                          {"correlation_id", &e.correlation_id, false},
                                                                          {"signature", &e.signature, false}}) {
    auto value = stringField(j, name, required);
    if (!value) return value.error();
    *target = std::move(*value);
  }
  if (e.nonce.size() < 16) return schemaError("nonce", "must be at least 16 characters");

  auto issued = timeField(j, "issued_at");
  if (!issued) return issued.error();
  e.issued_at = *issued;
  auto expires = timeField(j, "expires_at");
  if (!expires) return expires.error();
  e.expires_at = *expires;
  if (e.expires_at < e.issued_at) return schemaError("expires_at", "must not be before issued_at");

  const bool isCommand = e.type == FrameType::Command;
  if (isCommand) {
    auto verb = stringField(j, "verb", true);
    if (!verb) return verb.error();
    if (verb->empty()) return schemaError("verb", "must not be empty");
    e.verb = std::move(*verb);
    if (e.correlation_id.empty()) return schemaError("correlation_id", "is required on COMMAND");
    if (e.signature.empty()) return schemaError("signature", "is required on COMMAND");
    if (auto args = j.find("args"); args != j.end()) {
      if (!args->is_object()) return schemaError("args", "must be an object");
      e.args = std::move(*args);
    }
    if (j.contains("data")) return schemaError("data", "is not allowed on COMMAND (use args)");
  } else {
    if (j.contains("verb") || j.contains("args")) {
      return schemaError("verb", "verb and args are only allowed on COMMAND");
    }
    if (auto data = j.find("data"); data != j.end()) {
      if (!data->is_object()) return schemaError("data", "must be an object");
      e.data = std::move(*data);
    }
    if (e.type == FrameType::Result && e.correlation_id.empty()) {
      return schemaError("correlation_id", "is required on RESULT");
    }
  }

  if (j.contains("error")) {
    const auto& err = j["error"];
    if (!err.is_object() || !err.contains("code") || !err["code"].is_string() || !err.contains("message") ||
        !err["message"].is_string()) {
      return schemaError("error", "must be an object with string code and message");
    }
    e.error = ErrorInfo{err["code"].get<std::string>(), err["message"].get<std::string>()};
  } else if (e.type == FrameType::Error) {
    return schemaError("error", "is required on ERROR");
  }

  static const std::set<std::string> kKnown = {"type",  "agent_id",       "issued_at", "expires_at",
                                               "nonce", "correlation_id", "verb",      "args",
                                               "data",  "error",          "signature"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!kKnown.count(it.key())) return schemaError(it.key(), "is not a known envelope field");
  }
  return e;
}

}  // namespace berth::protocol
