// App domains end to end (issue 9, docs/routes.md "Data"). Servers started: a
// real `berth server` per test (one test also enrols one `berth agent` so an
// app can have a deployment with a port); the CLI runs as a separate `berth`
// process against the REST API.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace berth::itest {
namespace {

nlohmann::json domainsOf(Cluster& c, const std::string& app) {
  return c.api("GET", "/api/v1/apps/" + app + "/domains").body;
}

std::size_t auditCount(Cluster& c, const std::string& needle) {
  return static_cast<std::size_t>(countOccurrences(c.api("GET", "/api/v1/audit?limit=1000").body.dump(), needle));
}

TEST(Domains, AddListAndRemoveThroughTheCli) {
  Cluster c;
  c.startServer({"--allow-wildcard-domains", "true"});
  ASSERT_EQ(c.cli({"app", "create", "shop"}).first, 0);

  auto [addCode, addOut] = c.cli({"app", "domain", "add", "shop", "Shop.Example.COM"});
  ASSERT_EQ(addCode, 0) << addOut;
  EXPECT_NE(addOut.find("domain shop.example.com added to app shop"), std::string::npos) << addOut;
  auto [apiCode, apiOut] = c.cli({"app", "domain", "add", "shop", "api.example.com", "--path", "/v1", "--strip-prefix"});
  ASSERT_EQ(apiCode, 0) << apiOut;
  ASSERT_EQ(c.cli({"app", "domain", "add", "shop", "*.shop.example.net"}).first, 0);  // wildcards allowed here

  auto [lsCode, lsOut] = c.cli({"app", "domain", "ls", "shop"});
  ASSERT_EQ(lsCode, 0) << lsOut;
  EXPECT_NE(lsOut.find("shop.example.com"), std::string::npos) << lsOut;
  EXPECT_NE(lsOut.find("/v1"), std::string::npos) << lsOut;
  auto [jsonCode, jsonOut] = c.cli({"app", "domain", "ls", "shop", "--json"});
  ASSERT_EQ(jsonCode, 0) << jsonOut;
  auto listed = nlohmann::json::parse(jsonOut);
  ASSERT_EQ(listed.size(), 3u) << listed.dump();
  EXPECT_EQ(listed[0]["domain"], "*.shop.example.net");
  EXPECT_EQ(listed[1]["domain"], "api.example.com");
  EXPECT_EQ(listed[1]["path_prefix"], "/v1");
  EXPECT_EQ(listed[1]["strip_prefix"], true);
  EXPECT_EQ(listed[1]["generated"], false);
  EXPECT_EQ(listed[2]["domain"], "shop.example.com");
  EXPECT_EQ(listed[2]["path_prefix"], "/");

  // `app show` and GET /apps/NAME carry them too.
  EXPECT_EQ(c.api("GET", "/api/v1/apps/shop").body["domains"], listed);
  auto [showCode, showOut] = c.cli({"app", "show", "shop"});
  ASSERT_EQ(showCode, 0) << showOut;
  EXPECT_NE(showOut.find("api.example.com"), std::string::npos) << showOut;
  EXPECT_NE(showOut.find("custom"), std::string::npos) << showOut;

  auto [rmCode, rmOut] = c.cli({"app", "domain", "rm", "shop", "SHOP.example.com"});
  ASSERT_EQ(rmCode, 0) << rmOut;
  EXPECT_EQ(domainsOf(c, "shop").size(), 2u);
  EXPECT_EQ(c.api("GET", "/api/v1/apps/shop/domains").body.dump().find("\"shop.example.com\""), std::string::npos);
  ASSERT_EQ(c.cli({"app", "domain", "rm", "shop", "*.shop.example.net"}).first, 0);
  auto [againCode, againOut] = c.cli({"app", "domain", "rm", "shop", "shop.example.com"});
  EXPECT_EQ(againCode, 3) << againOut;  // not held any more: not found
  EXPECT_NE(againOut.find("does not hold domain shop.example.com"), std::string::npos) << againOut;
  auto [unknownCode, unknownOut] = c.cli({"app", "domain", "ls", "nope"});
  EXPECT_EQ(unknownCode, 3) << unknownOut;

  // Each mutation is audited, refused ones as refused.
  EXPECT_EQ(auditCount(c, "POST /api/v1/apps/shop/domains"), 3u);
  EXPECT_GE(auditCount(c, "DELETE /api/v1/apps/shop/domains/"), 3u);
  EXPECT_EQ(auditCount(c, "404 not_found"), 1u);
}

TEST(Domains, ASecondAppIsRefusedNamingTheHolder) {
  Cluster c;
  c.startServer({"--base-domain", "apps.example.test"});
  ASSERT_EQ(c.cli({"app", "create", "shop"}).first, 0);
  ASSERT_EQ(c.cli({"app", "create", "blog"}).first, 0);
  ASSERT_EQ(c.cli({"app", "domain", "add", "shop", "shop.example.com"}).first, 0);

  auto [code, out] = c.cli({"app", "domain", "add", "blog", "SHOP.example.com"});
  EXPECT_EQ(code, 5) << out;  // a conflict
  EXPECT_NE(out.find("domain shop.example.com is used by app shop"), std::string::npos) << out;
  auto refused = c.apiResult("POST", "/api/v1/apps/blog/domains", {{"domain", "shop.example.com"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "domain_in_use");
  EXPECT_TRUE(domainsOf(c, "blog").empty());
  EXPECT_EQ(domainsOf(c, "shop").size(), 1u);  // the holder keeps it
  // Another app's domain cannot be removed through this one.
  auto [rmCode, rmOut] = c.cli({"app", "domain", "rm", "blog", "shop.example.com"});
  EXPECT_EQ(rmCode, 3) << rmOut;
  EXPECT_EQ(domainsOf(c, "shop").size(), 1u);

  // Another app's generated domain is refused naming it; the rest of the
  // generated names stay free for apps made later; the app's own is there already.
  auto generated = c.apiResult("POST", "/api/v1/apps/blog/domains", {{"domain", "shop.apps.example.test"}});
  ASSERT_FALSE(generated.ok());
  EXPECT_EQ(generated.error().code, "domain_in_use");
  EXPECT_NE(generated.error().message.find("used by app shop"), std::string::npos) << generated.error().message;
  auto reserved = c.apiResult("POST", "/api/v1/apps/blog/domains", {{"domain", "later.apps.example.test"}});
  ASSERT_FALSE(reserved.ok());
  EXPECT_EQ(reserved.error().code, "invalid_argument");
  EXPECT_NE(reserved.error().message.find("field 'domain'"), std::string::npos);
  auto own = c.apiResult("POST", "/api/v1/apps/blog/domains", {{"domain", "blog.apps.example.test"}});
  ASSERT_FALSE(own.ok());
  EXPECT_EQ(own.error().code, "invalid_argument");
  // Two labels below the base domain are another org's generated ones (app www of org blog);
  // deeper names are ordinary custom domains.
  auto orgs = c.apiResult("POST", "/api/v1/apps/blog/domains", {{"domain", "www.blog.apps.example.test"}});
  ASSERT_FALSE(orgs.ok());
  EXPECT_EQ(orgs.error().code, "invalid_argument");
  EXPECT_TRUE(c.apiResult("POST", "/api/v1/apps/blog/domains", {{"domain", "a.www.blog.apps.example.test"}}).ok());
  EXPECT_EQ(domainsOf(c, "blog").size(), 1u);
  EXPECT_EQ(auditCount(c, "409 domain_in_use"), 3u);
}

TEST(Domains, InvalidDomainsAndInjectionAttemptsAreRefusedWithNothingStored) {
  Cluster c;
  c.startServer();
  ASSERT_EQ(c.cli({"app", "create", "shop"}).first, 0);
  const std::vector<std::string> badDomains = {
      "a.com;", "a.com\r\nX: y", "a.com\nserver_name evil.com", "a.com{", "a.com }", "$host.example.com",
      "localhost", "127.0.0.1", "[::1]", "example.com.", "-a.com", "a..com", "*.example.com",
      std::string(64, 'a') + ".com", "b\xc3\xbc" "cher.example", "a.com:443", ""};
  for (const auto& bad : badDomains) {
    auto r = c.apiResult("POST", "/api/v1/apps/shop/domains", {{"domain", bad}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "invalid_argument") << bad;
    EXPECT_NE(r.error().message.find("field 'domain'"), std::string::npos) << r.error().message;
  }
  const std::vector<std::string> badPrefixes = {"/x{", "/x;return 200", "/../etc", "/a//b", "x", "/x y",
                                                "/x\"", "/x#y", "/x?y", "/$uri", "/x%0d%0a", "/%2e%2e"};
  for (const auto& bad : badPrefixes) {
    auto r = c.apiResult("POST", "/api/v1/apps/shop/domains", {{"domain", "shop.example.com"}, {"path_prefix", bad}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "invalid_argument") << bad;
    EXPECT_NE(r.error().message.find("field 'path_prefix'"), std::string::npos) << r.error().message;
  }
  for (const nlohmann::json& body :
       {nlohmann::json{{"domain", 5}}, nlohmann::json{{"path_prefix", "/"}},
        nlohmann::json{{"domain", "shop.example.com"}, {"strip_prefix", "yes"}},
        nlohmann::json{{"domain", "shop.example.com"}, {"strip_prefix", true}},  // needs a prefix
        nlohmann::json{{"domain", "shop.example.com"}, {"tls", "off"}}, nlohmann::json::array()}) {
    auto r = c.apiResult("POST", "/api/v1/apps/shop/domains", body);
    ASSERT_FALSE(r.ok()) << body.dump();
    EXPECT_EQ(r.error().code, "invalid_argument") << body.dump();
  }
  // Through the CLI: a usage error naming the field, and the URL cannot be bent.
  auto [cliCode, cliOut] = c.cli({"app", "domain", "add", "shop", "a.com\r\nX: y"});
  EXPECT_EQ(cliCode, 2) << cliOut;
  EXPECT_NE(cliOut.find("field 'domain'"), std::string::npos) << cliOut;
  auto [pathCode, pathOut] = c.cli({"app", "domain", "add", "shop", "shop.example.com", "--path", "/x;return 200"});
  EXPECT_EQ(pathCode, 2) << pathOut;
  EXPECT_NE(pathOut.find("field 'path_prefix'"), std::string::npos) << pathOut;
  auto [rmCode, rmOut] = c.cli({"app", "domain", "rm", "shop", "../../apps/shop"});
  EXPECT_EQ(rmCode, 2) << rmOut;
  auto raw = c.apiResult("DELETE", "/api/v1/apps/shop/domains/a.com%0d%0aX:%20y");
  ASSERT_FALSE(raw.ok());
  EXPECT_EQ(raw.error().code, "invalid_argument");
  auto unknownApp = c.apiResult("POST", "/api/v1/apps/nope/domains", {{"domain", "shop.example.com"}});
  ASSERT_FALSE(unknownApp.ok());
  EXPECT_EQ(unknownApp.error().code, "not_found");

  // Nothing was stored; the app still works and the domain is still free.
  EXPECT_TRUE(domainsOf(c, "shop").empty());
  EXPECT_TRUE(c.api("GET", "/api/v1/apps/shop").body["domains"].empty());
  EXPECT_GE(auditCount(c, "400 invalid_argument"), badDomains.size() + badPrefixes.size());
  EXPECT_TRUE(c.apiResult("POST", "/api/v1/apps/shop/domains", {{"domain", "shop.example.com"}}).ok());
}

TEST(Domains, DeletingTheAppFreesItsDomains) {
  Cluster c;
  c.startServer();
  ASSERT_EQ(c.cli({"app", "create", "shop"}).first, 0);
  ASSERT_EQ(c.cli({"app", "create", "blog"}).first, 0);
  ASSERT_EQ(c.cli({"app", "domain", "add", "shop", "shop.example.com"}).first, 0);
  ASSERT_EQ(c.cli({"app", "domain", "add", "shop", "www.example.com", "--path", "/shop"}).first, 0);
  ASSERT_EQ(c.cli({"app", "domain", "add", "blog", "blog.example.com"}).first, 0);
  ASSERT_NE(c.cli({"app", "domain", "add", "blog", "shop.example.com"}).first, 0);

  auto [delCode, delOut] = c.cli({"app", "delete", "shop"});
  ASSERT_EQ(delCode, 0) << delOut;
  ASSERT_FALSE(c.apiResult("GET", "/api/v1/apps/shop").ok());
  auto [addCode, addOut] = c.cli({"app", "domain", "add", "blog", "shop.example.com"});
  EXPECT_EQ(addCode, 0) << addOut;
  ASSERT_EQ(c.cli({"app", "domain", "add", "blog", "www.example.com"}).first, 0);
  EXPECT_EQ(domainsOf(c, "blog").size(), 3u);
  // A new app of the old name starts with none.
  ASSERT_EQ(c.cli({"app", "create", "shop"}).first, 0);
  EXPECT_TRUE(domainsOf(c, "shop").empty());
}

// With base_domain set, an app whose deployment has a port lists its
// generated domain first; one without a base domain does not.
TEST(Domains, GeneratedDomainIsListedForAnAppWithAPort) {
  Cluster c;
  c.startServer({"--base-domain", "Apps.Example.Test"});
  c.startOnlineAgent("a1");
  auto [code, out] = c.cli({"app", "deploy", "web", "--image", "busybox:1", "--port", "8080", "--detach"});
  ASSERT_EQ(code, 0) << out;
  ASSERT_EQ(c.cli({"app", "domain", "add", "web", "web.example.com"}).first, 0);
  auto list = domainsOf(c, "web");
  ASSERT_EQ(list.size(), 2u) << list.dump();
  EXPECT_EQ(list[0]["domain"], "web.apps.example.test");
  EXPECT_EQ(list[0]["generated"], true);
  EXPECT_EQ(list[1]["domain"], "web.example.com");
  EXPECT_EQ(list[1]["generated"], false);
  auto [lsCode, lsOut] = c.cli({"app", "domain", "ls", "web"});
  EXPECT_NE(lsOut.find("generated"), std::string::npos) << lsOut;
  // The generated one is computed, not stored: it cannot be removed.
  auto rm = c.apiResult("DELETE", "/api/v1/apps/web/domains/web.apps.example.test");
  ASSERT_FALSE(rm.ok());
  EXPECT_EQ(rm.error().code, "not_found");
  // An app without a port has none.
  ASSERT_EQ(c.cli({"app", "create", "worker"}).first, 0);
  EXPECT_TRUE(domainsOf(c, "worker").empty());
}

}  // namespace
}  // namespace berth::itest
