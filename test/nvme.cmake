# NVMe controller tests (docs/nvme-testing.md): cmocka programs that run
# samples/nvme-emu in-process and drive it with the userspace driver in
# test/helpers/nvme_drv.c (linked into every test through vus_test_helpers).
if(NOT TARGET vus-nvme-emu)
  message(STATUS "samples/nvme-emu not built: NVMe tests left out")
  return()
endif()

add_library(vus_nvme_rig STATIC ${CMAKE_CURRENT_SOURCE_DIR}/helpers/nvme_rig.c)
target_link_libraries(vus_nvme_rig PUBLIC vus_test_helpers vus-nvme-emu PkgConfig::CMOCKA)

foreach(name test_nvme_admin test_nvme_io test_nvme_errors test_nvme_file
    test_nvme_holdoff)
  if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c)
    continue()
  endif()
  add_executable(${name} ${name}.c)
  target_link_libraries(${name} PRIVATE vus_nvme_rig)
  add_test(NAME ${name} COMMAND ${VUS_TEST_WRAPPER} $<TARGET_FILE:${name}>)
  # A check the controller is known to fail (docs/nvme-testing.md, "Known
  # issues") ends its test with VUS_SKIP: the program exits 77, skipped.
  set_tests_properties(${name} PROPERTIES TIMEOUT ${VUS_C_TEST_TIMEOUT} SKIP_RETURN_CODE 77
    ENVIRONMENT "VUS_BUILD_DIR=${CMAKE_BINARY_DIR};VUS_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endforeach()
