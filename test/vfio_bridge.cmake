# The guest program of test/guest_vfio_bridge.sh: the vus client, the
# tests' NVMe driver and the bridge's VFIO opening (for the baseline),
# copied into the guest with its shared libraries (guest_add_binary).
add_executable(vfio_bridge_client ${CMAKE_CURRENT_SOURCE_DIR}/guest/vfio_bridge_client.c
  ${CMAKE_CURRENT_SOURCE_DIR}/helpers/nvme_drv.c
  ${CMAKE_CURRENT_SOURCE_DIR}/helpers/nvme_drv_client.c)
target_include_directories(vfio_bridge_client PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/helpers)
target_link_libraries(vfio_bridge_client PRIVATE vus_vfio_bridge vus_static Threads::Threads)
