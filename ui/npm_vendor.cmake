# Installs ui/package-lock.json's packages into DIR with `npm ci`; never
# fails the build (see ui/CMakeLists.txt). Writes STAMP either way.
file(MAKE_DIRECTORY ${DIR})
set(status "no npm on this machine")
if(NPM)
  configure_file(${SRC}/package.json ${DIR}/package.json COPYONLY)
  configure_file(${SRC}/package-lock.json ${DIR}/package-lock.json COPYONLY)
  execute_process(
    COMMAND ${NPM} ci --ignore-scripts --no-audit --no-fund
            --prefer-offline --loglevel=error
    WORKING_DIRECTORY ${DIR}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out
    TIMEOUT 300)
  if(rc EQUAL 0 AND EXISTS ${DIR}/node_modules/uplot/dist/uPlot.iife.min.js)
    set(status "ok")
  else()
    set(status "npm ci failed (${rc}): ${out}")
    file(REMOVE_RECURSE ${DIR}/node_modules)
  endif()
endif()
if(NOT status STREQUAL "ok")
  message(WARNING "status page: building without uPlot (${status}); "
                  "/ui shows numbers and tables but no charts")
endif()
file(WRITE ${STAMP} "${status}\n")
