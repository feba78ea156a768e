#include "server/server_config.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace berth::server {
namespace {

TEST(ServerConfig, DefaultsAreTheDocumentedOnes) {
  auto c = serverConfigFromJson(nlohmann::json::object());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->heartbeat_interval_s, 20);
  EXPECT_EQ(c->heartbeat_misses, 3);
  EXPECT_EQ(c->max_in_flight, 4);
  EXPECT_EQ(c->clock_skew_s, 60);
  EXPECT_EQ(c->client_cert_days, 30);
  EXPECT_EQ(c->max_connections_per_address, 256);
  EXPECT_FALSE(c->limit_loopback_connections);
}

TEST(ServerConfig, ConnectionCapSettings) {
  auto c = serverConfigFromJson({{"max_connections_per_address", "3"}, {"limit_loopback_connections", "true"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->max_connections_per_address, 3);
  EXPECT_TRUE(c->limit_loopback_connections);
  auto bad = serverConfigFromJson({{"limit_loopback_connections", "maybe"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("'limit_loopback_connections': must be true or false"), std::string::npos);
  EXPECT_EQ(toJson(*c)["limit_loopback_connections"], true);
}

TEST(ServerConfig, AcceptsNumbersAsStringsFromFlags) {
  auto c = serverConfigFromJson({{"max_queue", "7"}, {"server_names", "a.example,127.0.0.1"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->max_queue, 7);
  EXPECT_EQ(c->server_names, (std::vector<std::string>{"a.example", "127.0.0.1"}));
}

TEST(ServerConfig, ErrorsNameTheFieldAndRule) {
  const std::vector<std::pair<nlohmann::json, std::string>> cases = {
      {{{"heartbeat_interval_s", 0}}, "heartbeat_interval_s"},
      {{{"max_in_flight", "four"}}, "max_in_flight"},
      {{{"log_level", "loud"}}, "log_level"},
      {{{"listen", "no-port"}}, "listen"},
      {{{"typo_setting", 1}}, "typo_setting"},
      {{{"server_names", nlohmann::json::array()}}, "server_names"},
      {{{"advertise_url", "cp.example:7443"}}, "advertise_url"},
      {{{"advertise_url", 7443}}, "advertise_url"},
  };
  for (const auto& [json, field] : cases) {
    auto c = serverConfigFromJson(json);
    ASSERT_FALSE(c.ok()) << json.dump();
    EXPECT_NE(c.error().message.find("'" + field + "'"), std::string::npos) << c.error().message;
  }
}

TEST(ServerConfig, AdvertiseUrlIsEmptyByDefaultAndKeptWhenValid) {
  auto defaults = serverConfigFromJson(nlohmann::json::object());
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->advertise_url, "");
  auto set = serverConfigFromJson({{"advertise_url", "https://cp.example:7443"}});
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->advertise_url, "https://cp.example:7443");
  EXPECT_EQ(toJson(*set)["advertise_url"], "https://cp.example:7443");
}

TEST(ServerConfig, AllowedCapabilitiesAreEmptyByDefaultAndValidated) {
  auto defaults = serverConfigFromJson(nlohmann::json::object());
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->allowed_capabilities.empty());
  auto flag = serverConfigFromJson({{"allowed_capabilities", "NET_ADMIN, SYS_PTRACE"}});
  ASSERT_TRUE(flag.ok()) << flag.error().message;
  EXPECT_EQ(flag->allowed_capabilities, (std::vector<std::string>{"NET_ADMIN", "SYS_PTRACE"}));
  auto file = serverConfigFromJson({{"allowed_capabilities", {"BPF"}}});
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->allowed_capabilities, std::vector<std::string>{"BPF"});
  auto bad = serverConfigFromJson({{"allowed_capabilities", {"CAP_SYS_ADMIN"}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("allowed_capabilities"), std::string::npos);
  EXPECT_EQ(toJson(*file)["allowed_capabilities"], nlohmann::json::array({"BPF"}));
}

TEST(ServerConfig, BaseDomainIsEmptyByDefaultValidatedAndLowerCased) {
  auto defaults = serverConfigFromJson(nlohmann::json::object());
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->base_domain, "");
  EXPECT_FALSE(defaults->allow_wildcard_domains);
  auto set = serverConfigFromJson({{"base_domain", "Apps.Example.COM"}});
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->base_domain, "apps.example.com");
  EXPECT_EQ(toJson(*set)["base_domain"], "apps.example.com");
  EXPECT_EQ(serverConfigFromJson({{"base_domain", ""}})->base_domain, "");
  // The one single-label base domain: <app>.localhost is loopback without DNS (berth dev).
  EXPECT_EQ(serverConfigFromJson({{"base_domain", "localhost"}})->base_domain, "localhost");
  for (const char* bad : {"intranet", "*.example.com", "10.0.0.1", "a.com;", "a.com\nx", "example.com."}) {
    auto c = serverConfigFromJson({{"base_domain", bad}});
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().code, "invalid_config");
    EXPECT_NE(c.error().message.find("'base_domain'"), std::string::npos) << c.error().message;
  }
  EXPECT_FALSE(serverConfigFromJson({{"base_domain", 5}}).ok());
}

TEST(ServerConfig, WildcardDomainsAreOffUnlessAllowed) {
  auto on = serverConfigFromJson({{"allow_wildcard_domains", "true"}});
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on->allow_wildcard_domains);
  EXPECT_EQ(toJson(*on)["allow_wildcard_domains"], true);
  auto bad = serverConfigFromJson({{"allow_wildcard_domains", "yes please"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("allow_wildcard_domains"), std::string::npos);
}

TEST(ServerConfig, AnOverlongNumberIsRefusedNotThrown) {
  auto c = serverConfigFromJson({{"max_queue", std::string(30, '9')}});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("max_queue"), std::string::npos);
}

TEST(ServerConfig, SqliteSynchronousIsFullUnlessAskedAndChecked) {
  EXPECT_EQ(serverConfigFromJson(nlohmann::json::object())->sqlite_synchronous, "full");
  EXPECT_EQ(serverConfigFromJson({{"sqlite_synchronous", "normal"}})->sqlite_synchronous, "normal");
  auto bad = serverConfigFromJson({{"sqlite_synchronous", "off"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("'sqlite_synchronous': must be full or normal"), std::string::npos)
      << bad.error().message;
}

TEST(ServerConfig, AReloadKeepsRestartOnlySettingsAndNamesThoseItIgnored) {
  auto running = serverConfigFromJson({{"max_handshakes_in_flight", "8"}, {"max_in_flight", "4"}});
  auto fresh = serverConfigFromJson({{"max_handshakes_in_flight", "64"},
                                     {"max_connections_per_address", "9"},
                                     {"sqlite_synchronous", "normal"},
                                     {"max_in_flight", "2"}});
  ASSERT_TRUE(running.ok() && fresh.ok());
  auto reload = applyReload(*running, *fresh);
  EXPECT_EQ(reload.config.max_handshakes_in_flight, 8);
  EXPECT_EQ(reload.config.max_connections_per_address, 256);
  EXPECT_EQ(reload.config.sqlite_synchronous, "full");
  EXPECT_EQ(reload.config.max_in_flight, 2);  // reloadable settings do change
  EXPECT_EQ(reload.ignored, (std::vector<std::string>{"sqlite_synchronous", "max_connections_per_address",
                                                      "max_handshakes_in_flight"}));
  EXPECT_TRUE(applyReload(*running, *running).ignored.empty());
  // Every restart-only key is one the configuration accepts.
  for (const auto& key : restartOnlyKeys()) {
    const auto& keys = serverConfigKeys();
    EXPECT_NE(std::find(keys.begin(), keys.end(), key), keys.end()) << key;
  }
}

TEST(ServerConfig, RateLimitsAndTheMetricsListenerAreSettings) {
  auto defaults = serverConfigFromJson(nlohmann::json::object());
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->rate_limit_key_per_s, 50);
  EXPECT_EQ(defaults->rate_limit_key_burst, 100);
  EXPECT_EQ(defaults->metrics_listen, "127.0.0.1:9464");  // loopback unless told otherwise
  auto set = serverConfigFromJson({{"rate_limit_key_per_s", "5"}, {"agent_frames_burst", 9}, {"metrics_listen", ""}});
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->rate_limit_key_per_s, 5);
  EXPECT_EQ(set->agent_frames_burst, 9);
  EXPECT_EQ(set->metrics_listen, "");
  EXPECT_EQ(defaults->service_backlog_kib, 256 * 1024);
  for (const auto& bad : {nlohmann::json{{"rate_limit_key_per_s", 0}}, nlohmann::json{{"rate_limit_address_burst", -1}},
                          nlohmann::json{{"metrics_listen", "loopback"}}, nlohmann::json{{"metrics_listen", 9464}},
                          nlohmann::json{{"service_backlog_kib", 63}}, nlohmann::json{{"service_backlog_kib", 1 << 30}}}) {
    auto r = serverConfigFromJson(bad);
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_NE(r.error().message.find(bad.items().begin().key()), std::string::npos);
  }
  // The listener is bound once; the rates change on reload.
  auto reload = applyReload(*defaults, *set);
  EXPECT_EQ(reload.config.metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(reload.config.rate_limit_key_per_s, 5);
}

}  // namespace
}  // namespace berth::server

namespace berth::server {
namespace {
TEST(ServerConfig, IoThreadsDefaultsToPerCoreIsBoundedAndRestartOnly) {
  EXPECT_EQ(serverConfigFromJson(nlohmann::json::object())->io_threads, 0);
  for (const nlohmann::json& bad : {nlohmann::json(-1), nlohmann::json(65), nlohmann::json("many")}) {
    auto r = serverConfigFromJson({{"io_threads", bad}});
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_NE(r.error().message.find("'io_threads'"), std::string::npos) << r.error().message;
  }
  auto running = serverConfigFromJson({{"io_threads", 2}});
  auto fresh = serverConfigFromJson({{"io_threads", 4}});
  auto reload = applyReload(*running, *fresh);
  EXPECT_EQ(reload.config.io_threads, 2);
  EXPECT_NE(std::find(reload.ignored.begin(), reload.ignored.end(), "io_threads"), reload.ignored.end());
}
}  // namespace
}  // namespace berth::server
