#include "helper/helper_verbs.hpp"

#include <gtest/gtest.h>

#include "helper/helper_actions.hpp"

namespace berth::helper {
namespace {

const Policy kPolicy{{"/var/lib/berth-agent/proxy"}, {"/etc/traefik/dynamic/berth.yml"}};

Result<Action> parse(const std::string& verb, const std::string& args) {
  return parseAction(verb, nlohmann::json::parse(args), kPolicy);
}

std::string errorOf(const std::string& verb, const std::string& args) {
  auto r = parse(verb, args);
  return r ? "" : r.error().code + ": " + r.error().message;
}

TEST(HelperVerbs, OnlyTheAllowlistIsKnown) {
  EXPECT_EQ(verbNames().size(), 6u);
  for (const auto* verb : {"exec", "shell", "nginx", "nginx.start ", "NGINX.START", "file.read", "traffic.shape.x", ""})
    EXPECT_EQ(parse(verb, "{}").error().code, "unknown_verb") << verb;
}

TEST(HelperVerbs, TrafficShapeTakesTypedIntegersInRange) {
  auto a = parse("traffic.shape", R"({"pid": 4242, "in_bps": 10000000, "out_bps": 0})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->verb, Verb::TrafficShape);
  EXPECT_EQ(a->pid, 4242);
  EXPECT_EQ(a->in_bps, 10'000'000);
  EXPECT_NE(errorOf("traffic.shape", R"({"pid": "4242", "in_bps": 1, "out_bps": 1})").find("'args.pid': must be an integer"),
            std::string::npos);
  EXPECT_NE(errorOf("traffic.shape", R"({"pid": 1, "in_bps": 1, "out_bps": 1})").find("'args.pid'"), std::string::npos);
  EXPECT_NE(errorOf("traffic.shape", R"({"pid": -5, "in_bps": 1, "out_bps": 1})").find("'args.pid'"), std::string::npos);
  EXPECT_NE(errorOf("traffic.shape", R"({"pid": 99999999, "in_bps": 1, "out_bps": 1})").find("'args.pid'"), std::string::npos);
  EXPECT_NE(errorOf("traffic.shape", R"({"pid": 5, "in_bps": -1, "out_bps": 1})").find("'args.in_bps'"), std::string::npos);
  EXPECT_NE(errorOf("traffic.shape", R"({"pid": 5, "in_bps": 18446744073709551615, "out_bps": 1})").find("'args.in_bps'"),
            std::string::npos);
  EXPECT_NE(errorOf("traffic.shape", R"({"pid": 5, "in_bps": 1.5, "out_bps": 1})").find("'args.in_bps'"), std::string::npos);
  EXPECT_NE(errorOf("traffic.shape", R"({"pid": 5, "in_bps": true, "out_bps": 1})").find("'args.in_bps'"), std::string::npos);
  EXPECT_NE(errorOf("traffic.shape", R"({"pid": 5, "in_bps": 1})").find("'args.out_bps': is required"), std::string::npos);
  EXPECT_NE(errorOf("traffic.shape", R"({"pid": 5, "in_bps": 1, "out_bps": 1, "device": "eth0"})")
                .find("'args.device': is not an argument"),
            std::string::npos);
}

TEST(HelperVerbs, ProxyPathsStayUnderTheConfiguredDirectories) {
  auto a = parse("nginx.reload", R"({"config": "/var/lib/berth-agent/proxy/nginx/nginx.conf"})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->verb, Verb::NginxReload);
  EXPECT_EQ(parse("nginx.start", R"({"config": "/var/lib/berth-agent/proxy/nginx/nginx.conf"})")->verb, Verb::NginxStart);
  EXPECT_EQ(parse("nginx.quit", R"({"config": "/var/lib/berth-agent/proxy/nginx/nginx.conf"})")->verb, Verb::NginxQuit);
  for (const auto* bad : {
           "/var/lib/berth-agent/proxy/../../../../etc/nginx.conf",    // traversal
           "/var/lib/berth-agent/proxy/nginx/./nginx.conf",            // '.'
           "/var/lib/berth-agent/proxy//nginx.conf",                   // empty component
           "/var/lib/berth-agent/proxy-evil/nginx.conf",               // a sibling sharing the prefix
           "/var/lib/berth-agent/proxy",                               // the directory itself
           "/etc/nginx/nginx.conf",                                    // elsewhere
           "var/lib/berth-agent/proxy/nginx.conf",                     // relative
           "/var/lib/berth-agent/proxy/nginx/nginx.conf;reboot",       // shell metacharacters
           "/var/lib/berth-agent/proxy/$(id).conf", "/var/lib/berth-agent/proxy/a`id`.conf",
           "/var/lib/berth-agent/proxy/a b.conf", "/var/lib/berth-agent/proxy/a|b.conf",
           "/var/lib/berth-agent/proxy/a\nb.conf",                     // control character
           "/var/lib/berth-agent/proxy/nginx/nginx.txt",               // wrong kind of file
           "/var/lib/berth-agent/proxy/nginx/"}) {
    const auto e = errorOf("nginx.reload", nlohmann::json{{"config", bad}}.dump());
    EXPECT_NE(e.find("invalid_argument: field 'args.config'"), std::string::npos) << bad << " -> " << e;
  }
  // NUL inside the string (JSON \u0000).
  EXPECT_NE(errorOf("nginx.reload", R"({"config": "/var/lib/berth-agent/proxy/a\u0000.conf"})").find("'args.config'"),
            std::string::npos);
  EXPECT_NE(errorOf("nginx.reload", nlohmann::json{{"config", "/var/lib/berth-agent/proxy/" + std::string(1100, 'a') + ".conf"}}.dump())
                .find("at most 1024"),
            std::string::npos);
  EXPECT_NE(errorOf("nginx.reload", R"({"config": 7})").find("must be a string"), std::string::npos);
}

TEST(HelperVerbs, CaddyStartChecksEachPathAndItsKind) {
  const std::string d = "/var/lib/berth-agent/proxy/caddy/";
  auto a = parse("caddy.start", nlohmann::json{{"config", d + "c.json"}, {"pidfile", d + "caddy.pid"}, {"log", d + "caddy.log"}}.dump());
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->pidfile, d + "caddy.pid");
  EXPECT_NE(errorOf("caddy.start",
                    nlohmann::json{{"config", d + "c.json"}, {"pidfile", "/etc/shadow"}, {"log", d + "caddy.log"}}.dump())
                .find("'args.pidfile'"),
            std::string::npos);
  EXPECT_NE(errorOf("caddy.start",
                    nlohmann::json{{"config", d + "c.json"}, {"pidfile", d + "caddy.pid"}, {"log", d + "x.conf"}}.dump())
                .find("'args.log'"),
            std::string::npos);
}

TEST(HelperVerbs, FileWriteOnlyToListedFiles) {
  auto a = parse("file.write", R"({"path": "/etc/traefik/dynamic/berth.yml", "content": "http: {}\n"})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->content, "http: {}\n");
  EXPECT_NE(errorOf("file.write", R"({"path": "/etc/traefik/dynamic/other.yml", "content": ""})").find("writable_files"),
            std::string::npos);
  EXPECT_NE(errorOf("file.write", R"({"path": "/etc/traefik/dynamic/../../passwd", "content": ""})").find("'args.path'"),
            std::string::npos);
  EXPECT_NE(errorOf("file.write", R"({"path": "/etc/traefik/dynamic/berth.yml", "content": "a\u0000b"})").find("NUL"),
            std::string::npos);
  EXPECT_NE(errorOf("file.write", nlohmann::json{{"path", "/etc/traefik/dynamic/berth.yml"},
                                                 {"content", std::string(kMaxFileBytes + 1, 'x')}}.dump())
                .find("768 KiB"),
            std::string::npos);
}

TEST(HelperVerbs, LoggedArgumentsHideFileContents) {
  auto shown = describeArgs("file.write", {{"path", "/p"}, {"content", "secret-ish"}});
  EXPECT_EQ(shown["content"]["bytes"], 10);
  EXPECT_EQ(shown.dump().find("secret-ish"), std::string::npos);
  EXPECT_EQ(describeArgs("nginx.reload", {{"config", "/c"}})["config"], "/c");
}

TEST(HelperActions, ProxiesRunAsTheProxyUserWithOnlyTheBindCapability) {
  EXPECT_EQ(asProxyUser("/usr/bin/setpriv", std::nullopt, {"/usr/sbin/nginx", "-c", "/c.conf"}),
            (std::vector<std::string>{"/usr/sbin/nginx", "-c", "/c.conf"}));
  const auto argv = asProxyUser("/usr/bin/setpriv", RunAs{998, 997}, {"/usr/sbin/nginx", "-c", "/c.conf"});
  EXPECT_EQ(argv, (std::vector<std::string>{"/usr/bin/setpriv", "--reuid=998", "--regid=997", "--init-groups",
                                            "--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service",
                                            "--bounding-set=-all,+net_bind_service", "--", "/usr/sbin/nginx", "-c",
                                            "/c.conf"}));
}

}  // namespace
}  // namespace berth::helper
