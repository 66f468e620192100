# SPDX-License-Identifier: BSD-3-Clause
# FindCUnit
# ---------
# Finds the CUnit unit-testing library: first through pkg-config (module "cunit"),
# then by searching for CUnit/CUnit.h and libcunit directly (hint: CUnit_ROOT).
#
# Imported target (created either way):
#   CUnit::CUnit
# Result variables:
#   CUnit_FOUND, CUnit_VERSION, CUnit_INCLUDE_DIRS, CUnit_LIBRARIES

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_CUNIT QUIET IMPORTED_TARGET cunit)
endif()

if(PC_CUNIT_FOUND)
  set(CUnit_VERSION "${PC_CUNIT_VERSION}")
  set(CUnit_INCLUDE_DIRS "${PC_CUNIT_INCLUDE_DIRS}")
  set(CUnit_LIBRARIES "${PC_CUNIT_LINK_LIBRARIES}")
  set(_cunit_vars PC_CUNIT_FOUND)
else()
  find_path(CUnit_INCLUDE_DIR NAMES CUnit/CUnit.h)
  find_library(CUnit_LIBRARY NAMES cunit)
  mark_as_advanced(CUnit_INCLUDE_DIR CUnit_LIBRARY)
  set(CUnit_INCLUDE_DIRS "${CUnit_INCLUDE_DIR}")
  set(CUnit_LIBRARIES "${CUnit_LIBRARY}")
  set(_cunit_vars CUnit_LIBRARY CUnit_INCLUDE_DIR)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CUnit
  REQUIRED_VARS ${_cunit_vars}
  VERSION_VAR CUnit_VERSION)
unset(_cunit_vars)

if(CUnit_FOUND AND NOT TARGET CUnit::CUnit)
  add_library(CUnit::CUnit INTERFACE IMPORTED)
  if(PC_CUNIT_FOUND)
    set_target_properties(CUnit::CUnit PROPERTIES
      INTERFACE_LINK_LIBRARIES PkgConfig::PC_CUNIT)
  else()
    set_target_properties(CUnit::CUnit PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${CUnit_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${CUnit_LIBRARY}")
  endif()
endif()
