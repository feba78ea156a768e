#include "apps/domains.hpp"

#include <gtest/gtest.h>

namespace berth::apps {
namespace {

// Refused as an invalid_argument naming the field, with `rule` in the message.
template <typename T>
void expectRefused(const Result<T>& r, const std::string& field, const std::string& rule) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_argument");
  EXPECT_NE(r.error().message.find("'" + field + "'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(rule), std::string::npos) << r.error().message;
}

TEST(Domain, AcceptsHostNamesAndLowerCasesThem) {
  EXPECT_EQ(validateDomain("Shop.Example.COM", false).value(), "shop.example.com");
  EXPECT_EQ(validateDomain("a.b", false).value(), "a.b");
  EXPECT_EQ(validateDomain("my-app-2.example.co.uk", false).value(), "my-app-2.example.co.uk");
  EXPECT_EQ(validateDomain("xn--bcher-kva.example", false).value(), "xn--bcher-kva.example");
  EXPECT_EQ(validateDomain("1password.example", false).value(), "1password.example");
}

TEST(Domain, RefusesEmptyAndTooLong) {
  expectRefused(validateDomain("", false), "domain", "must not be empty");
  // 4 labels of 63 + 3 dots = 255 characters.
  const std::string label(63, 'a');
  expectRefused(validateDomain(label + "." + label + "." + label + "." + label, false), "domain", "at most 253");
  const std::string longest = label + "." + label + "." + label + "." + std::string(61, 'b');
  ASSERT_EQ(longest.size(), 253U);
  EXPECT_TRUE(validateDomain(longest, false).ok());
}

TEST(Domain, LabelsAreOneToSixtyThreeOfLettersDigitsAndHyphen) {
  expectRefused(validateDomain(std::string(64, 'a') + ".com", false), "domain", "at most 63");
  EXPECT_TRUE(validateDomain(std::string(63, 'a') + ".com", false).ok());
  expectRefused(validateDomain("a..com", false), "domain", "empty label");
  expectRefused(validateDomain(".a.com", false), "domain", "empty label");
  for (const char* bad : {"my_app.com", "a b.com", "a+b.com", "a/b.com", "a\"b.com", "a'b.com", "a@b.com"})
    expectRefused(validateDomain(bad, false), "domain", "only letters, digits and '-'");
  for (const char* bad : {"-a.com", "a-.com", "a.-com", "a.com-"})
    expectRefused(validateDomain(bad, false), "domain", "start or end with '-'");
}

TEST(Domain, NeedsTwoLabelsAndNoTrailingDot) {
  expectRefused(validateDomain("localhost", false), "domain", "at least two labels");
  expectRefused(validateDomain("example.com.", false), "domain", "end with a dot");
}

TEST(Domain, RefusesIpLiterals) {
  for (const char* ip : {"127.0.0.1", "10.1.2.3", "127.1", "1.2.3.04"})
    expectRefused(validateDomain(ip, false), "domain", "not an IP address");
  for (const char* ip : {"::1", "[::1]", "fe80::1", "2001:db8::1", "[2001:db8::1]:443"})
    expectRefused(validateDomain(ip, false), "domain", "not an IP address");
  expectRefused(validateDomain("example.com:8080", false), "domain", "host:port");
}

TEST(Domain, NonAsciiMustBePunycode) {
  expectRefused(validateDomain("b\xc3\xbc" "cher.example", false), "domain", "punycode");
  expectRefused(validateDomain("\xff.example", false), "domain", "ASCII");
}

TEST(Domain, WildcardOnlyWholeLeftmostLabelAndOnlyWhenAllowed) {
  expectRefused(validateDomain("*.example.com", false), "domain", "allow_wildcard_domains");
  EXPECT_EQ(validateDomain("*.Example.com", true).value(), "*.example.com");
  expectRefused(validateDomain("*.com", true), "domain", "at least two labels");
  for (const char* bad : {"a.*.example.com", "*a.example.com", "a*.example.com", "example.*", "**.example.com"})
    EXPECT_FALSE(validateDomain(bad, true).ok()) << bad;
  expectRefused(validateDomain("a.*.example.com", true), "domain", "whole leftmost label");
  expectRefused(validateDomain("*", true), "domain", "at least two labels");
}

TEST(GeneratedDomainKey, OneOrTwoLabelsBelowTheBaseDomainAreAGeneratedOneOfAnyOrg) {
  EXPECT_EQ(generatedDomainKey("web.apps.example.com", "apps.example.com"), std::optional<std::string>("web"));
  // Another org's generated domain is two labels below: web.acme.<base> is acme's "web".
  EXPECT_EQ(generatedDomainKey("web.acme.apps.example.com", "apps.example.com"),
            std::optional<std::string>("web.acme"));
  // Wildcards over generated domains and keys no app can have are reserved, with no key.
  for (const char* below : {"*.apps.example.com", "*.acme.apps.example.com", "web.default.apps.example.com"})
    EXPECT_EQ(generatedDomainKey(below, "apps.example.com"), std::optional<std::string>("")) << below;
  // Not below it, or deeper than any generated domain: free.
  for (const char* free : {"apps.example.com", "example.com", "web.example.com", "webapps.example.com",
                           "shop.example.net", "a.web.acme.apps.example.com", "*.web.acme.apps.example.com"})
    EXPECT_EQ(generatedDomainKey(free, "apps.example.com"), std::nullopt) << free;
  EXPECT_EQ(generatedDomainKey("web.apps.example.com", ""), std::nullopt);
}

TEST(Domain, RefusesHeaderAndConfigInjection) {
  expectRefused(validateDomain("a.com;", false), "domain", "only letters, digits and '-'");
  expectRefused(validateDomain("a.com\r\nX: y", false), "domain", "control characters");
  expectRefused(validateDomain("a.com\nserver_name evil.com", false), "domain", "control characters");
  expectRefused(validateDomain(std::string("a.com\0b", 7), false), "domain", "control characters");
  expectRefused(validateDomain("a.com }", false), "domain", "only letters");
  expectRefused(validateDomain("a.com{", false), "domain", "only letters");
  expectRefused(validateDomain("$host.com", false), "domain", "only letters");
  expectRefused(validateDomain("a.com#x", false), "domain", "only letters");
  expectRefused(validateDomain("a.com/x", false), "domain", "only letters");
}

TEST(Domain, ErrorsNameTheGivenField) {
  expectRefused(validateDomain("nope", false, "base_domain"), "base_domain", "at least two labels");
}

TEST(PathPrefix, AcceptsSafePrefixes) {
  for (const char* ok : {"/", "/api", "/api/", "/a-b_c.d~e/F9", "/x%20y", "/%7Euser", "/v1.2/x..y"})
    EXPECT_EQ(validatePathPrefix(ok).value(), ok) << ok;
  EXPECT_TRUE(validatePathPrefix("/" + std::string(255, 'a')).ok());
}

TEST(PathPrefix, RefusesWhatBreaksTheRules) {
  expectRefused(validatePathPrefix(""), "path_prefix", "start with '/'");
  expectRefused(validatePathPrefix("api"), "path_prefix", "start with '/'");
  expectRefused(validatePathPrefix("/" + std::string(256, 'a')), "path_prefix", "at most 256");
  expectRefused(validatePathPrefix("/a//b"), "path_prefix", "'//'");
  expectRefused(validatePathPrefix("//"), "path_prefix", "'//'");
  expectRefused(validatePathPrefix("/a/../b"), "path_prefix", "'..' segment");
  expectRefused(validatePathPrefix("/.."), "path_prefix", "'..' segment");
  expectRefused(validatePathPrefix("/a/./b"), "path_prefix", "'.' or '..' segment");
}

TEST(PathPrefix, RefusesConfigInjection) {
  const std::string charset = "only A-Z a-z 0-9";
  expectRefused(validatePathPrefix("/x{"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/x}"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/x;return 200"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/x;"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/x y"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/x\"y"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/x'y"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/$host"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/x#y"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/x?y=1"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/x\\y"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/x\r\nX: y"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/x\ty"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/caf\xc3\xa9"), "path_prefix", charset);
  expectRefused(validatePathPrefix("/../etc"), "path_prefix", "'..' segment");
}

TEST(PathPrefix, PercentEscapesAreCheckedDecoded) {
  expectRefused(validatePathPrefix("/x%"), "path_prefix", "two hex digits");
  expectRefused(validatePathPrefix("/x%2"), "path_prefix", "two hex digits");
  expectRefused(validatePathPrefix("/x%zz"), "path_prefix", "two hex digits");
  expectRefused(validatePathPrefix("/x%0d%0aX"), "path_prefix", "control characters");
  expectRefused(validatePathPrefix("/x%00"), "path_prefix", "control characters");
  expectRefused(validatePathPrefix("/%2e%2e/etc"), "path_prefix", "'..' segment");
  expectRefused(validatePathPrefix("/a%2F%2Fb"), "path_prefix", "'//'");
}

TEST(GeneratedDomain, AppDotBaseOrEmpty) {
  EXPECT_EQ(generatedDomain("shop", "apps.example.com"), "shop.apps.example.com");
  EXPECT_EQ(generatedDomain("shop", ""), "");
}

TEST(BaseDomain, LeavesRoomForTheLongestAppName) {
  const std::string label(63, 'a');
  const std::string longest = label + "." + label + "." + std::string(61, 'b');  // 189 characters
  ASSERT_EQ(longest.size(), kMaxBaseDomainLength);
  ASSERT_TRUE(validateBaseDomain(longest).ok());
  // The longest app name's generated domain is still a domain.
  EXPECT_TRUE(validateDomain(generatedDomain(std::string(63, 'c'), longest), false).ok());
  auto tooLong = validateBaseDomain("c." + longest, "base_domain");
  ASSERT_FALSE(tooLong.ok());
  EXPECT_NE(tooLong.error().message.find("'base_domain'"), std::string::npos) << tooLong.error().message;
  EXPECT_NE(tooLong.error().message.find("at most 189"), std::string::npos) << tooLong.error().message;
}

TEST(BaseDomain, LocalhostIsTheOneSingleLabelBase) {
  EXPECT_EQ(*validateBaseDomain("localhost"), "localhost");
  EXPECT_EQ(*validateBaseDomain("Apps.Example.com"), "apps.example.com");
  for (const char* bad : {"intranet", "*.example.com", "localhost.", "10.0.0.1"}) {
    auto r = validateBaseDomain(bad, "base_domain");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("base_domain"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace berth::apps
