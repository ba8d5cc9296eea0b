# LithairDeps.cmake — finds every third-party library the project builds against.
# All are Debian packages installed by tools/playground.sh setup.
find_package(Threads REQUIRED)
find_package(nng CONFIG REQUIRED)
# Debian's civetweb CMake config names /usr/bin/civetweb (a separate package that
# would also install a web server), so the library is found by hand instead.
find_path(CIVETWEB_INCLUDE_DIR civetweb.h REQUIRED)
find_library(CIVETWEB_LIBRARY civetweb REQUIRED)
add_library(civetweb::civetweb UNKNOWN IMPORTED)
set_target_properties(civetweb::civetweb PROPERTIES IMPORTED_LOCATION ${CIVETWEB_LIBRARY}
                      INTERFACE_INCLUDE_DIRECTORIES ${CIVETWEB_INCLUDE_DIR})
find_package(json-c CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET libprotobuf-c)
pkg_check_modules(CUNIT REQUIRED IMPORTED_TARGET cunit)
pkg_check_modules(URCU REQUIRED IMPORTED_TARGET liburcu liburcu-cds)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(UUID REQUIRED IMPORTED_TARGET uuid)
# jemalloc for the daemons: they allocate per request and per entry from several threads;
# measured here +8-9% throughput over glibc malloc (docs/BENCHMARKS.md). Sanitizer builds
# keep the sanitizer's allocator.
pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
find_program(PROTOC_C protoc-c REQUIRED)
find_program(PROTOC protoc)            # optional: checks the schemas also suit Google's protoc
find_program(CLANG_FORMAT clang-format) # optional: checks formatting as a test
find_program(CLANG_TIDY clang-tidy)     # optional: a static analysis test (tests/lint_check.sh)
find_program(PYTHON3 python3)
