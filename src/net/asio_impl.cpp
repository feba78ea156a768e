// The compiled parts of Boost.Asio (with its OpenSSL layer) and Boost.Beast,
// built once here instead of inline in every source file that includes them:
// the whole project is compiled with BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION (see cmake/asio_separate_compilation.cmake).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
