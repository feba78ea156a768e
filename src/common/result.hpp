// Result<T>: the value of a fallible call, or an Error a user can act on.
// Expected failures travel as values; exceptions are kept for bugs.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace berth {

struct Error {
  std::string code;     // stable machine-readable code, e.g. "bad_signature"
  std::string message;  // human-readable, names the field and the rule
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}
  Result(Error error) : state_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

struct Ok {};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Ok) {}
  Result(Error error) : error_(std::move(error)) {}
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

inline Error makeError(std::string code, std::string message) { return Error{std::move(code), std::move(message)}; }

// The one spelling of a rejected input: names the field and the rule it broke.
inline Error invalidField(const std::string& field, const std::string& rule) {
  return makeError("invalid_argument", "field '" + field + "': " + rule);
}

}  // namespace berth
