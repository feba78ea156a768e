# Boost.Asio and Boost.Beast in separate compilation: their non-template code
# is compiled once, in src/net/asio_impl.cpp (library berth_asio), instead of
# inline in every source file that includes them. Every target of the project
# is compiled with BOOST_ASIO_SEPARATE_COMPILATION and
# BOOST_BEAST_SEPARATE_COMPILATION (top-level CMakeLists.txt), so every target
# that includes Asio or Beast must link berth_asio: the libraries below carry it
# to everything built on them. The fuzzers, compiled by clang without these
# definitions, use the header-only form. Figures: docs/BENCHMARKS.md, "Build".
add_library(berth_asio STATIC ${PROJECT_SOURCE_DIR}/src/net/asio_impl.cpp)
target_link_libraries(berth_asio PUBLIC Boost::system OpenSSL::SSL Threads::Threads)
target_link_libraries(berth_runtime PUBLIC berth_asio)
target_link_libraries(berth_net PUBLIC berth_asio)
