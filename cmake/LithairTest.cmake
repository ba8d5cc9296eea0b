# LithairTest.cmake — helpers that register tests with ctest.
#
# lithair_cunit_test(NAME <name> SOURCES <files...> LIBS <targets...> [LABEL <label>] [TIMEOUT <s>])
#   builds one CUnit suite program and registers it as one ctest test.
function(lithair_cunit_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS;ARGS" ${ARGN})
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} lithair_testlib PkgConfig::CUNIT)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  set_tests_properties(${T_NAME} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT})
endfunction()
