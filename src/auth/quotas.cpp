#include "auth/quotas.hpp"

#include "apps/validation.hpp"

namespace berth::auth {
namespace {

enum class Kind { Count, Cpu, Bytes };

struct QuotaField {
  const char* name;       // in requests and refusals
  const char* canonical;  // as stored and answered
  Kind kind;
  std::optional<std::int64_t> Quotas::*limit;
  std::int64_t Usage::*use;
};

constexpr std::int64_t kMaxCount = 1'000'000'000;

const QuotaField kFields[] = {
    {"apps", "apps", Kind::Count, &Quotas::apps, &Usage::apps},
    {"deployments_per_hour", "deployments_per_hour", Kind::Count, &Quotas::deployments_per_hour,
     &Usage::deployments_last_hour},
    {"cpu", "cpu_millicores", Kind::Cpu, &Quotas::cpu_millicores, &Usage::cpu_millicores},
    {"memory", "memory_bytes", Kind::Bytes, &Quotas::memory_bytes, &Usage::memory_bytes},
    {"disk", "disk_bytes", Kind::Bytes, &Quotas::disk_bytes, &Usage::disk_bytes},
    {"domains", "domains", Kind::Count, &Quotas::domains, &Usage::domains},
    {"builds_running", "builds_running", Kind::Count, &Quotas::builds_running, &Usage::builds_running},
};

std::string shown(Kind kind, std::int64_t value) {
  switch (kind) {
    case Kind::Cpu:
      return std::to_string(value) + "m CPU";
    case Kind::Bytes:
      return std::to_string(value) + " bytes";
    case Kind::Count:
      break;
  }
  return std::to_string(value);
}

Result<std::int64_t> parseQuota(const QuotaField& f, const nlohmann::json& v) {
  if (f.kind == Kind::Count) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > kMaxCount)
      return invalidField(f.name, "must be a whole number from 0 to " + std::to_string(kMaxCount));
    return v.get<std::int64_t>();
  }
  std::string text;
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
    text = std::to_string(v.get<std::int64_t>());
  } else if (v.is_string()) {
    text = v.get<std::string>();
  } else {
    return invalidField(f.name, f.kind == Kind::Cpu ? "must be CPUs such as \"4\" or \"500m\""
                                                    : "must be a size such as \"8g\" or a number of bytes");
  }
  if (text == "0") return 0;  // forbids the resource; the spec parsers want a positive amount
  return f.kind == Kind::Cpu ? apps::parseCpu(f.name, text) : apps::parseBytes(f.name, text);
}

}  // namespace

const std::vector<std::string>& quotaNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& f : kFields) out.emplace_back(f.name);
    return out;
  }();
  return names;
}

Result<void> admit(const std::string& org, const Quotas& quotas, const Usage& current, const Request& request) {
  for (const auto& f : kFields) {
    const auto& limit = quotas.*(f.limit);
    if (!limit) continue;
    const std::int64_t adding = request.adding.*(f.use), releasing = request.releasing.*(f.use);
    if (request.deployment) {
      const bool declared = f.kind == Kind::Count || (f.use == &Usage::cpu_millicores && request.declares_cpu) ||
                            (f.use == &Usage::memory_bytes && request.declares_memory) ||
                            (f.use == &Usage::disk_bytes && request.declares_disk);
      if (!declared)
        return makeError("quota_exceeded", std::string("quota '") + f.name + "' of org " + org + " is " +
                                               shown(f.kind, *limit) + ", so every deployment must set limits." +
                                               f.name + " (in use: " + shown(f.kind, current.*(f.use)) + ")");
    }
    if (adding <= releasing) continue;  // shrinking or unchanged: always admitted
    const std::int64_t after = current.*(f.use) - releasing + adding;
    if (after > *limit)
      return makeError("quota_exceeded", std::string("quota '") + f.name + "' of org " + org + " is " +
                                             shown(f.kind, *limit) + "; in use: " + shown(f.kind, current.*(f.use)) +
                                             ", this request would make it " + shown(f.kind, after));
  }
  return Ok{};
}

Result<Quotas> mergeQuotas(const Quotas& base, const nlohmann::json& body) {
  if (!body.is_object() || body.empty())
    return invalidField("body", "must be an object with at least one quota (apps, deployments_per_hour, cpu, memory, "
                                "disk, domains, builds_running)");
  Quotas out = base;
  for (const auto& [key, value] : body.items()) {
    const QuotaField* field = nullptr;
    for (const auto& f : kFields)
      if (key == f.name) field = &f;
    if (!field)
      return invalidField(key, "is not a quota (apps, deployments_per_hour, cpu, memory, disk, domains, builds_running)");
    if (value.is_null()) {
      out.*(field->limit) = std::nullopt;
      continue;
    }
    auto parsed = parseQuota(*field, value);
    if (!parsed) return parsed.error();
    out.*(field->limit) = *parsed;
  }
  return out;
}

nlohmann::json quotasJson(const Quotas& quotas) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& f : kFields) {
    const auto& limit = quotas.*(f.limit);
    out[f.canonical] = limit ? nlohmann::json(*limit) : nlohmann::json(nullptr);
  }
  return out;
}

Result<Quotas> quotasFromJson(const nlohmann::json& stored) {
  Quotas out;
  if (stored.is_null()) return out;
  if (!stored.is_object()) return invalidField("quotas", "must be an object");
  for (const auto& f : kFields) {
    if (!stored.contains(f.canonical) || stored[f.canonical].is_null()) continue;
    const auto& v = stored[f.canonical];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
      return invalidField(std::string("quotas.") + f.canonical, "must be a non-negative integer");
    out.*(f.limit) = v.get<std::int64_t>();
  }
  return out;
}

nlohmann::json usageJson(const Usage& usage) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& f : kFields) out[f.canonical] = usage.*(f.use);
  return out;
}

}  // namespace berth::auth
