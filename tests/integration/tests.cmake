# Integration tests: real processes, real peers, real filesystems. Included by
# the top CMakeLists.txt. One section per subject; add yours at the end in the
# same shape: helper programs first, then add_test with the `integration`
# label and a TIMEOUT. When an external tool is missing, call
# np_missing_tool("...") (an error in CI, a warning elsewhere).

find_package(Python3 COMPONENTS Interpreter)

# --- spool: files reach M-Lab's uploaders complete, exactly once ----------
# spool_watch.py watches like pusher/jostler (inotify close_write+moved_to)
# while a writer runs; "{datadir}" in the command is its fresh temp dir.
add_executable(spool_writer ${CMAKE_CURRENT_LIST_DIR}/spool_writer.c)
target_link_libraries(spool_writer PRIVATE netpulse)

find_program(NP_INOTIFYWAIT inotifywait)
if(Python3_Interpreter_FOUND AND NP_INOTIFYWAIT)
  set(NP_SPOOL_WATCH ${Python3_EXECUTABLE}
      ${CMAKE_CURRENT_LIST_DIR}/spool_watch.py)

  # Clean run: 20 gzip files and 10 single-line JSON files.
  add_test(NAME integration.spool_watch
           COMMAND ${NP_SPOOL_WATCH} --expect 20 --
                   $<TARGET_FILE:spool_writer> --datadir {datadir}
                   --count 20 --delay-ms 10 --size 65536)
  add_test(NAME integration.spool_watch_json
           COMMAND ${NP_SPOOL_WATCH} --expect 10 --
                   $<TARGET_FILE:spool_writer> --datadir {datadir}
                   --datatype spooljson --json --count 10 --delay-ms 5)

  # SIGKILL at a random point in a stream of 1 MiB writes, then recovery:
  # whatever got written is complete and handed once; nothing partial left.
  add_test(NAME integration.spool_watch_kill
           COMMAND ${NP_SPOOL_WATCH} --kill-after 1.0
                   --restart "$<TARGET_FILE:spool_writer> --datadir {datadir} --recover"
                   --
                   $<TARGET_FILE:spool_writer> --datadir {datadir}
                   --count 400 --delay-ms 5 --size 1048576)

  # Death in the narrowest window (staged, not yet renamed): recovery must
  # publish the staged file by a single moved_to.
  add_test(NAME integration.spool_watch_crash
           COMMAND ${NP_SPOOL_WATCH} --expect 4
                   --restart "$<TARGET_FILE:spool_writer> --datadir {datadir} --recover"
                   -- sh -c "$<TARGET_FILE:spool_writer> --datadir {datadir} --count 0 --crash-after 3 --delay-ms 5; test $? -eq 137"
  )

  set_tests_properties(integration.spool_watch integration.spool_watch_json
                       integration.spool_watch_kill integration.spool_watch_crash
                       PROPERTIES LABELS integration TIMEOUT 180)
else()
  np_missing_tool("python3 or inotifywait missing: spool watch tests")
endif()

# --- robustness: hostile and broken peers against netpulse-server ---------
# robustness.py starts its own server on free loopback ports per test; after
# every case it checks /health and a real upgrade. Groups run as separate
# tests so that ctest -j2 spreads them. NP_KNOWN_BUGS=1 adds the cases that
# document open server bugs.
if(Python3_Interpreter_FOUND)
  foreach(group http handshake frames stall many slow flood)
    add_test(NAME integration.robustness_${group}
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/robustness.py
                     --server $<TARGET_FILE:netpulse-server> --group ${group})
    set_tests_properties(integration.robustness_${group} PROPERTIES
                         LABELS integration TIMEOUT 120 ${NP_SKIPPABLE})
  endforeach()
else()
  np_missing_tool("python3 missing: robustness tests")
endif()

# --- WebSocket interop with Node `ws`, both roles, ws:// and wss:// -------
# Server role: netpulse-server against tests/peers/ndt7_ws_client.mjs (a
# real ndt7 download + upload with `ws`; data files checked). Client role:
# ws_interop_client (src/net + src/ws) against tests/peers/ws_echo_server.mjs.
add_executable(ws_interop_client ${CMAKE_CURRENT_LIST_DIR}/ws_interop_client.c)
target_link_libraries(ws_interop_client PRIVATE netpulse)

find_program(NP_NODE_WS_INTEROP node)
if(Python3_Interpreter_FOUND AND NP_NODE_WS_INTEROP
   AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/../peers/node_modules/ws)
  set(NP_WS_INTEROP ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/ws_interop.py)
  foreach(scheme ws wss)
    if(scheme STREQUAL "wss")
      set(tls_flag --tls)
    else()
      set(tls_flag)
    endif()
    add_test(NAME integration.ws_interop_server_${scheme}
             COMMAND ${NP_WS_INTEROP} server-side --server $<TARGET_FILE:netpulse-server>
                     --node ${NP_NODE_WS_INTEROP} ${tls_flag})
    add_test(NAME integration.ws_interop_client_${scheme}
             COMMAND ${NP_WS_INTEROP} client-side --client $<TARGET_FILE:ws_interop_client>
                     --node ${NP_NODE_WS_INTEROP} ${tls_flag})
    set_tests_properties(integration.ws_interop_server_${scheme}
                         integration.ws_interop_client_${scheme}
                         PROPERTIES LABELS integration TIMEOUT 120 ${NP_SKIPPABLE})
  endforeach()
else()
  np_missing_tool("python3, node or tests/peers/node_modules/ws missing: ws interop tests")
endif()

# --- operations (issue 3): metrics, drain, reload, budget, spool, tokens ----
# ops_test.py drives a real netpulse-server with raw-socket ndt7 clients and
# parses /metrics with Debian's python3-prometheus-client (so /usr/bin/python3,
# not a venv). Each subject is bounded (budget: a 30 s client loop).
if(EXISTS /usr/bin/python3)
  foreach(subject metrics drain lameduck reload budget spool tokens config)
    add_test(NAME integration.ops_${subject}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/ops_test.py
                     $<TARGET_FILE:netpulse-server> ${subject})
    set_tests_properties(integration.ops_${subject} PROPERTIES
                         LABELS integration TIMEOUT 120 ${NP_SKIPPABLE})
  endforeach()
  set_tests_properties(integration.ops_budget PROPERTIES TIMEOUT 180)
  # The spool failing under the server (issue 18): a tmpfs remounted
  # read-only, filled, its directories removed (needs root, as CI has).
  add_test(NAME integration.ops_spool_fault
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/spool_fault.py
                   $<TARGET_FILE:netpulse-server> run)
  set_tests_properties(integration.ops_spool_fault PROPERTIES
                       LABELS integration TIMEOUT 120 ${NP_SKIPPABLE})
else()
  np_missing_tool("/usr/bin/python3 missing: operations tests")
endif()
# --- hostile clients (issue 11): fd exhaustion, close semantics ----------
# hostile_test.py: stdlib only; fdlimit runs the server under prlimit.
find_program(NP_PRLIMIT prlimit)
if(Python3_Interpreter_FOUND AND NP_PRLIMIT)
  foreach(subject fdlimit emfile close slow)
    add_test(NAME integration.hostile_${subject}
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/hostile_test.py
                     $<TARGET_FILE:netpulse-server> ${subject})
    set_tests_properties(integration.hostile_${subject} PROPERTIES
                         LABELS integration TIMEOUT 120)
  endforeach()
else()
  np_missing_tool("python3 or prlimit (util-linux) missing: hostile client tests")
endif()
find_program(NP_PROMTOOL promtool)
if(NP_PROMTOOL)
  add_test(NAME integration.ops_prometheus_rules
           COMMAND ${NP_PROMTOOL} check rules
                   ${CMAKE_SOURCE_DIR}/deploy/prometheus/netpulse-rules.yml)
  set_tests_properties(integration.ops_prometheus_rules PROPERTIES LABELS integration TIMEOUT 60)
else()
  np_missing_tool("promtool (Debian package prometheus) missing: alert rules check")
endif()

# --- ndt7 end to end: the netpulse client against netpulse-server ---------
# ws and wss, download and upload; every data file checked field by field,
# UUIDs against the kernel's socket cookies (ss -e), the access token never
# stored (a Node ws download sends one).
find_program(NP_SS ss)
find_program(NP_NODE node)
if(Python3_Interpreter_FOUND AND NP_SS AND NP_NODE
   AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/../peers/node_modules/ws)
  add_test(NAME integration.ndt7_e2e
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/ndt7_e2e.py
                   --server-bin $<TARGET_FILE:netpulse-server>
                   --client-bin $<TARGET_FILE:netpulse-cli>
                   --node ${NP_NODE} --peers ${CMAKE_CURRENT_LIST_DIR}/../peers)
  set_tests_properties(integration.ndt7_e2e PROPERTIES LABELS integration TIMEOUT 180)
else()
  np_missing_tool("python3, ss, node or the ws peer missing: ndt7 end-to-end test")
endif()

# --- the real server under the uploader's watch, also when SIGKILLed -------
if(Python3_Interpreter_FOUND AND NP_INOTIFYWAIT)
  set(NP_SERVER_WRITER sh ${CMAKE_CURRENT_LIST_DIR}/server_writer.sh {datadir}
      $<TARGET_FILE:netpulse-server> $<TARGET_FILE:netpulse-cli>)
  add_test(NAME integration.server_spool_watch
           COMMAND ${NP_SPOOL_WATCH} --expect 2 -- ${NP_SERVER_WRITER} download upload)
  # Killed 12 s in: the first test's file is out, the second test is running.
  add_test(NAME integration.server_spool_watch_kill
           COMMAND ${NP_SPOOL_WATCH} --expect-min 1 --kill-after 12
                   --restart "sh ${CMAKE_CURRENT_LIST_DIR}/with_server.sh $<TARGET_FILE:netpulse-server> --datadir {datadir} -- true"
                   -- ${NP_SERVER_WRITER} download upload download)
  set_tests_properties(integration.server_spool_watch integration.server_spool_watch_kill
                       PROPERTIES LABELS integration TIMEOUT 180)
endif()

# --- the official ndt7 browser client (@m-lab/ndt7) in headless Chromium --
find_program(NP_CHROMIUM chromium)
if(NP_NODE AND NP_CHROMIUM
   AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/../peers/node_modules/playwright-core
   AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/../peers/node_modules/@m-lab/ndt7)
  foreach(proto ws wss)
    add_test(NAME integration.browser_ndt7_${proto}
             COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/with_server.sh $<TARGET_FILE:netpulse-server>
                     -- ${NP_NODE} ${CMAKE_CURRENT_LIST_DIR}/browser_ndt7.mjs
                     --server 127.0.0.1:{${proto}} --protocol ${proto} --datadir {datadir}
                     --timeout 90)
    set_tests_properties(integration.browser_ndt7_${proto} PROPERTIES
                         LABELS "integration;browser" TIMEOUT 150 RUN_SERIAL TRUE)
  endforeach()
else()
  np_missing_tool("node, chromium or the npm peers missing: @m-lab/ndt7 browser tests")
endif()

# --- netpulse CLI: server discovery through a local Locate v2 -------------
# cli_locate.py starts netpulse-server and fake_locate.py on free loopback
# ports and runs `netpulse --locate-url http://127.0.0.1:<port>/...` (json and
# human output, fallback to the next result, Locate 204/429, no consent,
# plaintext/untrusted-certificate hints, usage errors).
if(Python3_Interpreter_FOUND)
  add_test(NAME integration.cli_locate
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/cli_locate.py
                   --client $<TARGET_FILE:netpulse-cli>
                   --server $<TARGET_FILE:netpulse-server>)
  set_tests_properties(integration.cli_locate PROPERTIES LABELS integration TIMEOUT 240
                       ${NP_SKIPPABLE})
else()
  np_missing_tool("python3 missing: netpulse CLI Locate test")
endif()

# cli_hostile.py: the client against hostile stdlib servers on loopback
# (issue 17): Locate candidates that never answer cost one --timeout, a
# measurement flood leaves stdout bounded, impossible figures are marked not
# credible, a server without RPM (404, HTTP/1.1 400 to the h2c preface) is
# one line and exit 0, GOAWAY/RST/flood on the config request are named,
# http:// Locate only to loopback, a header bomb costs < 0.6 s of CPU.
# Every run asserts the client's time to exit, CPU seconds and stdout bytes.
if(Python3_Interpreter_FOUND)
  add_test(NAME integration.cli_hostile
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/cli_hostile.py
                   --client $<TARGET_FILE:netpulse-cli>)
  set_tests_properties(integration.cli_hostile PROPERTIES LABELS integration TIMEOUT 180)
else()
  np_missing_tool("python3 missing: netpulse CLI hostile-server test")
endif()

# --- privacy (issue 9): the data holds exactly what the policy promises ----
# privacy_test.py: hostile metadata and measurement members over ws and wss
# (none stored, drop metrics moved), and 200 maximal client measurements
# (file <= 256 KiB gzipped, RSS growth <= 8 MiB). datafiles.py: the schema
# validator every harness runs on its datadir refuses what it must and is
# wired into every harness; the privacy policy's and data.md's field tables
# list exactly the schema's fields.
if(EXISTS /usr/bin/python3)
  foreach(subject hostile cap)
    add_test(NAME integration.privacy_${subject}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/privacy_test.py
                     $<TARGET_FILE:netpulse-server> ${subject})
    set_tests_properties(integration.privacy_${subject} PROPERTIES
                         LABELS integration TIMEOUT 120 ${NP_SKIPPABLE})
  endforeach()
  add_test(NAME unit.data_schema_validator
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/datafiles.py selftest)
  set_tests_properties(unit.data_schema_validator PROPERTIES LABELS unit TIMEOUT 60)
  add_test(NAME lint.privacy_doc_fields
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/datafiles.py docs)
  set_tests_properties(lint.privacy_doc_fields PROPERTIES LABELS lint TIMEOUT 60)
else()
  np_missing_tool("/usr/bin/python3 missing: privacy tests")
endif()

# --- responsiveness server: curl, nghttp, h2load over h2 and h2c ----------
find_program(NP_CURL curl)
find_program(NP_NGHTTP nghttp)
find_program(NP_H2LOAD h2load)
# Records are checked against both schemas, the JSON Schema with Debian's
# python3-jsonschema (so /usr/bin/python3).
if(EXISTS /usr/bin/python3 AND NP_CURL AND NP_NGHTTP AND NP_H2LOAD AND NP_SS)
  foreach(case h2 h2c h1 h1c h1_browser h1_hostile admission sigkill)
    add_test(NAME integration.rpm_server_${case}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/rpm_server.py
                     --server-bin $<TARGET_FILE:netpulse-server> --case ${case})
    set_tests_properties(integration.rpm_server_${case} PROPERTIES LABELS integration
                         TIMEOUT 120)
  endforeach()
  # What other clients expect (issue 16): IPv6, HEAD, CORS, config twice.
  foreach(case ipv6 head_cors config_twice)
    add_test(NAME integration.rpm_compat_${case}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/rpm_compat.py
                     --server-bin $<TARGET_FILE:netpulse-server> --case ${case})
    set_tests_properties(integration.rpm_compat_${case} PROPERTIES LABELS integration
                         TIMEOUT 120)
  endforeach()
else()
  np_missing_tool("/usr/bin/python3, curl, nghttp, h2load or ss missing: responsiveness server tests")
endif()
# Probe churn (issue 16): a new h2c connection per foreign probe, 100 a
# second for 15 s, half of them never closed by the client, to one
# measurement: none refused, one record that counts them all; and the cap
# on connections open at once refuses and counts (rpm_churn.py).
if(EXISTS /usr/bin/python3 AND NP_CURL)
  foreach(case churn cap)
    add_test(NAME integration.rpm_conns_${case}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/rpm_churn.py
                     --server-bin $<TARGET_FILE:netpulse-server> --case ${case})
    set_tests_properties(integration.rpm_conns_${case} PROPERTIES LABELS integration
                         TIMEOUT 120)
  endforeach()
else()
  np_missing_tool("/usr/bin/python3 or curl missing: responsiveness probe churn tests")
endif()
# Operations of the responsiveness server: metrics and logs per protocol,
# admission refusals (concurrency, budget, spool), drain, SIGHUP reload.
# Debian's python3-prometheus-client parses /metrics (so /usr/bin/python3).
find_program(NP_OPENSSL openssl)
if(EXISTS /usr/bin/python3 AND NP_CURL AND NP_OPENSSL)
  foreach(subject metrics admission drain reload)
    add_test(NAME integration.rpm_ops_${subject}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/rpm_ops.py
                     $<TARGET_FILE:netpulse-server> ${subject})
    set_tests_properties(integration.rpm_ops_${subject} PROPERTIES
                         LABELS integration TIMEOUT 180 ${NP_SKIPPABLE})
  endforeach()
else()
  np_missing_tool("/usr/bin/python3, curl or openssl missing: responsiveness operations tests")
endif()
if(Python3_Interpreter_FOUND AND NP_CURL AND NP_SS)
  # Raw-frame HTTP/2 attacks: floods, rapid reset, CONTINUATION, header
  # bombs, zero windows, non-readers, idle connections.
  add_test(NAME integration.rpm_hostile
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/rpm_hostile.py
                   --server-bin $<TARGET_FILE:netpulse-server>)
  set_tests_properties(integration.rpm_hostile PROPERTIES LABELS integration TIMEOUT 180)
  # A small GET on a load connection read at 2 Mbit/s is answered within
  # 300 ms (median): the server's queues on it are bounded in time.
  foreach(case h2c h2)
    add_test(NAME integration.rpm_self_probe_${case}
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/rpm_self_probe.py
                     --server-bin $<TARGET_FILE:netpulse-server> --case ${case})
    set_tests_properties(integration.rpm_self_probe_${case} PROPERTIES LABELS integration
                         TIMEOUT 120)
  endforeach()
else()
  np_missing_tool("python3, curl or ss missing: responsiveness hostile-client tests")
endif()

# --- the test page served by the front door (issue 8): curl over http/1.1,
# h2 and h2c; HEAD against GET on each (nghttp: no DATA on a HEAD stream);
# --no-web; --web-dir with dotfiles and symlinks that must not be served.
if(Python3_Interpreter_FOUND AND NP_CURL AND NP_NGHTTP)
  foreach(subject embedded no_web web_dir)
    add_test(NAME integration.web_${subject}
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/web_serving.py
                     $<TARGET_FILE:netpulse-server> ${subject})
    set_tests_properties(integration.web_${subject} PROPERTIES LABELS integration TIMEOUT 120)
  endforeach()
else()
  np_missing_tool("python3, curl or nghttp missing: test page serving tests")
endif()

# --- the RPM client against netpulse-server: h2 and h2c, sequential and
# parallel, the summary in the record, and a plain `netpulse` run.
if(Python3_Interpreter_FOUND)
  # The client against hand-made hostile HTTP/2 servers: broken HTTP/2
  # is left at once with its cause, header blocks stop at 16 KiB, and
  # throughput counts body bytes only.
  foreach(case dead dead_result bomb goodput)
    add_test(NAME integration.rpm_client_hostile_${case}
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/rpm_client_hostile.py
                     --client-bin $<TARGET_FILE:netpulse-cli> --case ${case})
    set_tests_properties(integration.rpm_client_hostile_${case} PROPERTIES LABELS integration
                                                                           TIMEOUT 120)
  endforeach()
  foreach(case h2c h2 ipv6 parallel parallel_h2 nosend all embed budget)
    add_test(NAME integration.rpm_client_${case}
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/rpm_client_e2e.py
                     --server-bin $<TARGET_FILE:netpulse-server>
                     --client-bin $<TARGET_FILE:netpulse-cli>
                     --embed-bin $<TARGET_FILE:rpm_embed> --case ${case})
    set_tests_properties(integration.rpm_client_${case} PROPERTIES LABELS integration TIMEOUT 240)
  endforeach()
else()
  np_missing_tool("python3 missing: RPM client end-to-end tests")
endif()

if(Python3_Interpreter_FOUND)
  # Committed JSON Schemas are what scripts/bq2jsonschema.py makes of the
  # BigQuery schemas.
  add_test(NAME lint.schemas
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/bq2jsonschema.py --check
                   ${CMAKE_SOURCE_DIR}/schemas/responsiveness1.json
                   ${CMAKE_SOURCE_DIR}/schemas/responsiveness1.schema.json)
  set_tests_properties(lint.schemas PROPERTIES LABELS lint TIMEOUT 60)
endif()
# Every datatype the server writes (found in src/) has its spool volume,
# server mount and uploader (pusher, or jostler with its schema) in
# deploy/k8s/netpulse.yaml, a directory in the Dockerfile and a mount in the
# container smoke test. Debian's python3-yaml reads the manifest.
if(EXISTS /usr/bin/python3)
  add_test(NAME lint.deploy_datatypes
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/deploy_datatypes.py
                   ${CMAKE_SOURCE_DIR})
  set_tests_properties(lint.deploy_datatypes PROPERTIES LABELS lint TIMEOUT 60)
else()
  np_missing_tool("/usr/bin/python3 missing: deployment datatype lint")
endif()

# --- the test page in headless Chromium (issue 8) --------------------------
# browser_page.mjs loads / from the server over http (RPM over HTTP/1.1) and
# https (h2), accepts the policy with the keyboard, runs the whole test with
# short RPM phases, checks the page's figures against the data files, the
# request log against other origins, and races the page's ndt7 against
# @m-lab/ndt7 at the same time. Screenshots: test-output/browser_page_*.
if(NP_NODE AND NP_CHROMIUM
   AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/../peers/node_modules/playwright-core
   AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/../peers/node_modules/@m-lab/ndt7)
  foreach(scheme http https)
    if(scheme STREQUAL "https")
      set(port "{wss}")
    else()
      set(port "{ws}")
    endif()
    add_test(NAME integration.browser_page_${scheme}
             COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/with_server.sh $<TARGET_FILE:netpulse-server>
                     -- ${NP_NODE} ${CMAKE_CURRENT_LIST_DIR}/browser_page.mjs
                     --server 127.0.0.1:${port} --scheme ${scheme} --datadir {datadir}
                     --out ${CMAKE_BINARY_DIR}/test-output/browser_page_${scheme}
                     --rpm-ms 3000 --idle-ms 1000 --rounds 5 --timeout 150)
    set_tests_properties(integration.browser_page_${scheme} PROPERTIES
                         LABELS "integration;browser" TIMEOUT 420 RUN_SERIAL TRUE)
    # The RPM endpoints from a page of another origin (fetch() and
    # Chromium's own CORS checks): preflights, HEAD, errors, Resource
    # Timing, the config asked for twice on one connection (issue 16).
    add_test(NAME integration.browser_cors_${scheme}
             COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/with_server.sh $<TARGET_FILE:netpulse-server>
                     -- ${NP_NODE} ${CMAKE_CURRENT_LIST_DIR}/browser_cors.mjs
                     --server 127.0.0.1:${port} --scheme ${scheme})
    set_tests_properties(integration.browser_cors_${scheme} PROPERTIES
                         LABELS "integration;browser" TIMEOUT 120 RUN_SERIAL TRUE)
  endforeach()
else()
  np_missing_tool("node, chromium or the npm peers missing: test page and CORS browser tests")
endif()

# The page's RPM arithmetic (web/stats.js) under Node, no browser needed.
if(NP_NODE)
  add_test(NAME unit.web_stats COMMAND ${NP_NODE} ${CMAKE_SOURCE_DIR}/tests/unit/web_stats.mjs)
  set_tests_properties(unit.web_stats PROPERTIES LABELS unit TIMEOUT 60)
else()
  np_missing_tool("node missing: web/stats.js unit test")
endif()

# --- accuracy lab (issue 10): htb + bfifo + a TUN delay line, as root -------
# lab/delayline forwards between two TUN devices after a fixed delay (no
# netem here); its queue (lab/delayq.c) is unit-tested by test_delayq
# (wired in CMakeLists.txt).
add_executable(delayline ${CMAKE_SOURCE_DIR}/lab/delayline.c ${CMAKE_SOURCE_DIR}/lab/delayq.c)
target_include_directories(delayline PRIVATE ${CMAKE_SOURCE_DIR}/lab)
target_link_libraries(delayline PRIVATE m)
set_target_properties(delayline PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lab)
# rpm_lab.py builds labs with scripts/lab.sh (namespaces, htb + bfifo, the
# delay line, netpulse-server in the server namespace) and checks idle
# latency, queue placement, ndt7 and RPM against issue 10's bands. Root only
# (exit 77 otherwise, a failure under NP_REQUIRE_ALL_TESTS); serial, since
# its figures are timings. Label lab: the ASan pass leaves it out
# (scripts/test.sh), a sanitized client cannot keep a 50 Mbit/s link full.
find_program(NP_TC tc)
find_program(NP_IP ip)
find_program(NP_FLOCK flock)
if(Python3_Interpreter_FOUND AND NP_TC AND NP_IP AND NP_FLOCK)
  add_test(NAME integration.rpm_lab
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/rpm_lab.py
                   --lab ${CMAKE_SOURCE_DIR}/scripts/lab.sh
                   --server-bin $<TARGET_FILE:netpulse-server>
                   --client-bin $<TARGET_FILE:netpulse-cli>
                   --delayline $<TARGET_FILE:delayline>)
  set_tests_properties(integration.rpm_lab PROPERTIES LABELS "integration;lab" TIMEOUT 900
                       RUN_SERIAL TRUE ${NP_SKIPPABLE})
else()
  np_missing_tool("python3, ip, tc (iproute2) or flock (util-linux) missing: accuracy lab test")
endif()

# --- RPM interop with independent HTTP/2 stacks (issue 16) ----------------
# tests/peers/h2load_go: a goresponsiveness-like load client on
# golang.org/x/net/http2's Transport (Debian's x/net 0.7.0, the version
# goresponsiveness vendors: four WINDOW_UPDATEs per 16 KiB DATA frame),
# built here with Debian's go in GOPATH mode: no module proxy, nothing
# downloaded (GOPROXY=off, GOENV=off, a clean environment).
# tests/peers/h2load_node.mjs: the same load on Node's built-in node:http2.
# rpm_interop.py runs either against netpulse-server for 10 s per direction.
find_program(NP_GO go)
set(NP_XNET_SRC /usr/share/gocode/src/golang.org/x/net/http2/transport.go)
if(NP_GO AND EXISTS ${NP_XNET_SRC})
  set(NP_GOH2 ${CMAKE_BINARY_DIR}/tests/np_goh2)
  add_custom_command(
    OUTPUT ${NP_GOH2}
    COMMAND env -i PATH=/usr/bin:/bin GO111MODULE=off GOPATH=/usr/share/gocode
            GOCACHE=${CMAKE_BINARY_DIR}/gocache GOPROXY=off GOFLAGS= GOENV=off CGO_ENABLED=0
            ${NP_GO} build -o ${NP_GOH2} .
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/peers/h2load_go
    DEPENDS ${CMAKE_SOURCE_DIR}/tests/peers/h2load_go/main.go
    COMMENT "go build tests/peers/h2load_go (x/net http2 load client)"
    VERBATIM)
  add_custom_target(np_goh2 ALL DEPENDS ${NP_GOH2})
endif()
if(EXISTS /usr/bin/python3 AND NP_GO AND EXISTS ${NP_XNET_SRC})
  foreach(case h2_v4 h2c_v4 h2_v6 h2c_v6)
    add_test(NAME integration.rpm_interop_go_${case}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/rpm_interop.py
                     --server-bin $<TARGET_FILE:netpulse-server> --peer go
                     --go-bin ${NP_GOH2} --case ${case})
    set_tests_properties(integration.rpm_interop_go_${case} PROPERTIES LABELS integration
                         TIMEOUT 180 ${NP_SKIPPABLE})
  endforeach()
else()
  np_missing_tool("/usr/bin/python3, go (golang-go) or x/net (golang-golang-x-net-dev) missing: "
                  "Go HTTP/2 RPM interop tests")
endif()
if(EXISTS /usr/bin/python3 AND NP_NODE)
  foreach(case h2 h2c)
    add_test(NAME integration.rpm_interop_node_${case}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/rpm_interop.py
                     --server-bin $<TARGET_FILE:netpulse-server> --peer node
                     --node ${NP_NODE} --case ${case}_v4)
    set_tests_properties(integration.rpm_interop_node_${case} PROPERTIES LABELS integration
                         TIMEOUT 180 ${NP_SKIPPABLE})
  endforeach()
else()
  np_missing_tool("/usr/bin/python3 or node missing: Node HTTP/2 RPM interop tests")
endif()

# --- the soak (issue 18): bench/soak.py --ci, three minutes of mixed load
# (netpulse ndt7 and RPM, Node ws ndt7, Go x/net HTTP/2, killed, slow and
# hostile clients) with faults (SIGHUP, read-only and full spool, removed
# directories, lowered fd limit, SIGTERM and SIGKILL restarts). Label soak:
# scripts/test.sh runs it alone after the plain pass (it sets its own
# concurrency), never under ASan. Needs root, node and the Go peer.
if(EXISTS /usr/bin/python3 AND NP_NODE AND NP_GO AND EXISTS ${NP_XNET_SRC})
  add_test(NAME integration.soak_ci
           COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/bench/soak.py ${CMAKE_BINARY_DIR} --ci)
  set_tests_properties(integration.soak_ci PROPERTIES LABELS "integration;soak" TIMEOUT 600
                       ${NP_SKIPPABLE})
else()
  np_missing_tool("python3, node or go missing: the soak (bench/soak.py --ci)")
endif()

# M-Lab's official ndt7 JavaScript client (@m-lab/ndt7, unchanged) under
# Node: tests/peers/ndt7_official_node.mjs supplies the browser's Worker
# (worker_threads) and WebSocket (`ws`). A download over ws, an upload over
# wss, each matched to its archived file by UUID.
if(EXISTS /usr/bin/python3 AND NP_NODE
   AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/../peers/node_modules/@m-lab/ndt7)
  add_test(NAME integration.ndt7_official_node
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/ndt7_official_node.py
                   $<TARGET_FILE:netpulse-server> ${NP_NODE})
  set_tests_properties(integration.ndt7_official_node PROPERTIES LABELS integration TIMEOUT 120
                       ${NP_SKIPPABLE})
else()
  np_missing_tool("node or the npm peers missing: the official ndt7 JS client under Node")
endif()

# --- netpulse-data (issue 19): table, check, report ------------------------
# data_tool.py: a real server and client make ndt7 and responsiveness1
# records; every table column is checked against them (CSV, JSON lines,
# --with-ip, a jostler bundle of the same records). data_check.py: the
# malformed-file corpus in tests/data/netpulse-data.
if(Python3_Interpreter_FOUND)
  add_test(NAME integration.data_tool
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/data_tool.py
                   --server-bin $<TARGET_FILE:netpulse-server>
                   --client-bin $<TARGET_FILE:netpulse-cli>
                   --data-bin $<TARGET_FILE:netpulse-data>)
  set_tests_properties(integration.data_tool PROPERTIES LABELS integration TIMEOUT 120)
  add_test(NAME integration.data_check
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/data_check.py
                   --data-bin $<TARGET_FILE:netpulse-data>
                   --corpus ${CMAKE_SOURCE_DIR}/tests/data/netpulse-data)
  set_tests_properties(integration.data_check PROPERTIES LABELS integration TIMEOUT 60)
else()
  np_missing_tool("python3 missing: netpulse-data tests")
endif()
# The report page (netpulse-data report) in headless Chromium from file://:
# charts drawn, no request at all, screenshots in test-output/data_report.
if(Python3_Interpreter_FOUND AND NP_NODE AND NP_CHROMIUM
   AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/../peers/node_modules/playwright-core)
  add_test(NAME integration.browser_data_report
           COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/data_report.sh $<TARGET_FILE:netpulse-data>
                   ${NP_NODE} ${CMAKE_BINARY_DIR}/test-output/data_report)
  set_tests_properties(integration.browser_data_report PROPERTIES
                       LABELS "integration;browser" TIMEOUT 90 RUN_SERIAL TRUE)
else()
  np_missing_tool("python3, node, chromium or playwright-core missing: report page test")
endif()
