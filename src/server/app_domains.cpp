// AppService's custom domains: validation against the server's settings
// (base_domain, allow_wildcard_domains), uniqueness across apps, the list
// with the generated domain, uploaded certificates, and what the node reports
// it serves. The rules themselves are pure, in apps/domains.
#include <algorithm>

#include "acme/certificates.hpp"
#include "apps/domains.hpp"
#include "common/json.hpp"
#include "pki/sealed_file.hpp"
#include "apps/validation.hpp"
#include "server/app_service.hpp"

#include "apps/app_key.hpp"

namespace berth::server {
namespace {

const char* const kDomainFields[] = {"domain", "path_prefix", "strip_prefix"};

nlohmann::json domainJson(const store::AppDomain& d) {
  return {{"domain", d.domain},
          {"path_prefix", d.path_prefix},
          {"strip_prefix", d.strip_prefix},
          {"generated", false},
          {"created_at", d.created_at}};
}

}  // namespace

nlohmann::json servedRoutes(const nlohmann::json& telemetry, const std::string& app) {
  // The agent's view (telemetry "proxy": {adapter, ready, apps: {name: {hosts, upstreams}},
  // certificates: {host: status}}); read defensively, it comes from a node.
  const auto proxy = telemetry.is_object() ? telemetry.value("proxy", nlohmann::json()) : nlohmann::json();
  if (!proxy.is_object()) return nullptr;
  const auto apps = proxy.value("apps", nlohmann::json::object());
  const auto served = apps.is_object() ? apps.value(app, nlohmann::json()) : nlohmann::json();
  nlohmann::json out = {{"adapter", proxy.value("adapter", nlohmann::json())},
                        {"proxy_ready", proxy.value("ready", nlohmann::json())},
                        {"hosts", nlohmann::json::array()},
                        {"upstreams", nlohmann::json::array()},
                        {"certificates", nlohmann::json::object()}};
  if (proxy.contains("problem")) out["proxy_problem"] = proxy["problem"];
  if (!served.is_object()) return out;
  for (const char* key : {"hosts", "upstreams"})
    if (served.contains(key) && served[key].is_array()) out[key] = served[key];
  const auto certificates = proxy.value("certificates", nlohmann::json::object());
  for (const auto& h : out["hosts"]) {
    if (!h.is_string() || !certificates.is_object()) continue;
    const std::string host = h.get<std::string>().substr(0, h.get<std::string>().find('/'));
    if (certificates.contains(host)) out["certificates"][host] = certificates[host];
  }
  return out;
}

Result<int> AppService::appPort(const store::App& app) {
  auto deployments = store_.listDeployments(app.name);  // newest first
  if (!deployments) return deployments.error();
  const store::Deployment* chosen = deployments->empty() ? nullptr : &deployments->front();
  for (const auto& d : *deployments) {
    if (d.number == app.current_deployment) chosen = &d;
  }
  if (!chosen) return 0;
  const auto port = chosen->spec.value("port", nlohmann::json());
  return port.is_number_integer() ? port.get<int>() : 0;
}

Result<nlohmann::json> AppService::domains(const std::string& name) {
  auto app = findApp(name);
  if (!app) return app.error();
  auto custom = store_.listAppDomains(name);
  if (!custom) return custom.error();
  nlohmann::json out = nlohmann::json::array();
  auto port = appPort(*app);
  if (!port) return port.error();
  if (!config_.base_domain.empty() && *port > 0) {
    out.push_back({{"domain", apps::generatedDomain(name, config_.base_domain)},
                   {"path_prefix", "/"},
                   {"strip_prefix", false},
                   {"generated", true}});
  }
  for (const auto& d : *custom) out.push_back(domainJson(d));
  return out;
}

Result<nlohmann::json> AppService::addDomain(const std::string& name, const nlohmann::json& body) {
  auto app = findApp(name);
  if (!app) return app.error();
  if (!body.is_object()) return invalidField("body", "must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (std::find(std::begin(kDomainFields), std::end(kDomainFields), key) == std::end(kDomainFields))
      return invalidField(key, "is not a known field (domain, path_prefix, strip_prefix)");
  }
  if (!body.contains("domain") || !body["domain"].is_string())
    return invalidField("domain", "is required and must be a string");
  auto domain = apps::validateDomain(body["domain"].get<std::string>(), config_.allow_wildcard_domains);
  if (!domain) return domain.error();
  store::AppDomain row{*domain, name, "/", false, clock_()};
  if (body.contains("path_prefix")) {
    if (!body["path_prefix"].is_string()) return invalidField("path_prefix", "must be a string");
    auto prefix = apps::validatePathPrefix(body["path_prefix"].get<std::string>());
    if (!prefix) return prefix.error();
    row.path_prefix = *prefix;
  }
  if (body.contains("strip_prefix")) {
    if (!body["strip_prefix"].is_boolean()) return invalidField("strip_prefix", "must be true or false");
    row.strip_prefix = body["strip_prefix"].get<bool>();
    if (row.strip_prefix && row.path_prefix == "/")
      return invalidField("strip_prefix", "needs a path_prefix other than /");
  }
  if (app->desired == AppDesired::Deleting) return makeError("conflict", "app " + name + " is being deleted");
  // One or two labels below base_domain name a generated domain ("web.<base>", "web.acme.<base>"),
  // of an app that exists or may later, in any org: none is a custom domain, nor a wildcard over
  // them. The holder is named only inside its own org; another org's app is never told of.
  if (auto key = apps::generatedDomainKey(row.domain, config_.base_domain)) {
    if (*key == name)
      return invalidField("domain", row.domain + " is this app's generated domain already (base_domain)");
    if (!key->empty() && apps::splitAppKey(*key).org == app->org) {
      auto holder = store_.getApp(*key);
      if (!holder) return holder.error();
      if (*holder)
        return makeError("domain_in_use",
                         "domain " + row.domain + " is used by app " + apps::splitAppKey(*key).name + " (generated)");
    }
    return invalidField("domain", "names <app>." + config_.base_domain + " and <app>.<org>." + config_.base_domain +
                                      " are reserved for apps' generated domains (base_domain)");
  }
  if (auto r = admission_.admitDomain(app->org); !r) return r.error();
  if (auto r = store_.insertAppDomain(row); !r) {
    // The holder is named only to its own org.
    if (r.error().code != "domain_in_use") return r.error();
    auto held = store_.findAppDomain(row.domain);
    if (!held) return held.error();
    std::string by = "another organisation";
    if (*held && apps::splitAppKey((*held)->app).org == app->org) by = "app " + apps::splitAppKey((*held)->app).name;
    return makeError("domain_in_use", "domain " + row.domain + " is used by " + by);
  }
  auto pushed = pushRoutes(*app);
  if (!pushed) {  // nothing half-done: the domain goes again when its node cannot be told
    (void)store_.deleteAppDomain(name, row.domain);
    return pushed.error();
  }
  auto out = domainJson(row);
  if (!pushed->empty()) out["command_id"] = *pushed;
  return out;
}

Result<nlohmann::json> AppService::routingArgs(const store::App& app) {
  auto custom = store_.listAppDomains(app.name);
  if (!custom) return custom.error();
  nlohmann::json domains = nlohmann::json::array();
  for (const auto& d : *custom)
    domains.push_back({{"domain", d.domain}, {"path_prefix", d.path_prefix}, {"strip_prefix", d.strip_prefix}});
  return nlohmann::json{{"domains", domains}, {"base_domain", config_.base_domain}};
}

Result<std::string> AppService::pushRoutes(const store::App& app) {
  // Not running anywhere yet: the first deploy carries the routes.
  if (app.node_id.empty() || app.current_deployment == 0) return std::string();
  auto routing = routingArgs(app);
  if (!routing) return routing.error();
  nlohmann::json args = {{"app", app.name}, {"routing", *routing}};
  auto sealed = sealedCertificates(app);
  if (!sealed) return sealed.error();
  if (!sealed->empty()) args["sealed_certificates"] = *sealed;
  return submit(app, "app.routes", args);
}

Result<std::string> AppService::sealedCertificates(const store::App& app) {
  auto custom = store_.listAppDomains(app.name);
  if (!custom) return custom.error();
  nlohmann::json all = nlohmann::json::object();
  for (const auto& d : *custom) {
    if (d.certificate_sealed.empty()) continue;
    auto plain = pki::unseal(d.certificate_sealed, secrets_key_);
    if (!plain) return makeError("secrets_unavailable", "domain " + d.domain + "'s certificate cannot be opened: " +
                                                            plain.error().message);
    all[d.domain] = parseJsonOrDiscarded(*plain);
  }
  // Sealed again as one value: the command queue holds keys only sealed (dispatchArgs opens it).
  return all.empty() ? std::string() : pki::seal(all.dump(), secrets_key_);
}

Result<std::pair<store::App, store::AppDomain>> AppService::heldDomain(const std::string& name,
                                                                      const std::string& text) {
  auto app = findApp(name);
  if (!app) return app.error();
  // Wildcards are accepted here even when no longer allowed, so one added
  // before the setting changed can still be removed or given a certificate.
  auto domain = apps::validateDomain(text, true);
  if (!domain) return domain.error();
  auto held = store_.findAppDomain(*domain);
  if (!held) return held.error();
  if (!*held || (*held)->app != name) return makeError("not_found", "app " + name + " does not hold domain " + *domain);
  return std::pair{std::move(*app), std::move(**held)};
}

Result<nlohmann::json> AppService::setDomainCertificate(const std::string& name, const std::string& text,
                                                        const nlohmann::json& body) {
  auto found = heldDomain(name, text);
  if (!found) return found.error();
  const auto& [app, held] = *found;
  const std::string* domain = &held.domain;
  if (!body.is_object()) return invalidField("body", "must be a JSON object with certificate and key");
  for (const auto& [key, value] : body.items()) {
    if (key != "certificate" && key != "key") return invalidField(key, "is not a known field (certificate, key)");
  }
  for (const char* field : {"certificate", "key"}) {
    if (!body.contains(field) || !body[field].is_string() || body[field].get<std::string>().empty())
      return invalidField(field, "is required: PEM text");
    if (body[field].get<std::string>().size() > 64 * 1024) return invalidField(field, "must be at most 64 KiB");
  }
  const std::string certificate = body["certificate"], key = body["key"];
  auto facts = acme::checkUploadedCertificate(certificate, key, *domain, clock_());
  if (!facts) return invalidField("certificate", facts.error().message);
  const std::string sealed = pki::seal(nlohmann::json{{"certificate", certificate}, {"key", key}}.dump(), secrets_key_);
  auto set = store_.setAppDomainCertificate(name, *domain, sealed);
  if (!set) return set.error();
  auto pushed = pushRoutes(app);
  if (!pushed) {
    (void)store_.setAppDomainCertificate(name, *domain, held.certificate_sealed);
    return pushed.error();
  }
  nlohmann::json out = {{"domain", *domain}, {"not_after", facts->not_after}, {"issuer", facts->issuer}};
  if (!pushed->empty()) out["command_id"] = *pushed;
  return out;
}

Result<void> AppService::removeDomain(const std::string& name, const std::string& text) {
  auto found = heldDomain(name, text);
  if (!found) return found.error();
  const auto& [app, held] = *found;
  auto removed = store_.deleteAppDomain(name, held.domain);
  if (!removed) return removed.error();
  if (auto pushed = pushRoutes(app); !pushed) {
    (void)store_.insertAppDomain(held);  // put back: the node still serves it
    return pushed.error();
  }
  return Ok{};
}

}  // namespace berth::server
