# The orchestrator: model stream parsers and request builders (unit), and
# (with CAISSON_FUZZ, under clang) fuzz-llm, the libFuzzer target for both
# stream parsers.
caisson_test(test_llm test_llm.c)
target_link_libraries(test_llm PRIVATE llm)
# How a model call ends, through the production client against the
# scripted model over real HTTP.
caisson_test(test_llm_endings test_llm_endings.c)
target_link_libraries(test_llm_endings PRIVATE llmclient PkgConfig::CURL)
add_dependencies(test_llm_endings caisson-llm-replay)

if(CAISSON_FUZZ)
    set(llm_dir ${PROJECT_SOURCE_DIR}/services/orchestrator)
    add_executable(fuzz-llm fuzz_llm.c ${llm_dir}/sse.c ${llm_dir}/llm_stream.c
                   ${llm_dir}/llm_openai.c ${llm_dir}/llm_anthropic.c ${decoder_sources})
    target_include_directories(fuzz-llm PRIVATE ${llm_dir} ${PROJECT_SOURCE_DIR}/libcommon
                               ${PROJECT_SOURCE_DIR})
    target_compile_options(fuzz-llm PRIVATE ${fuzz_flags})
    target_link_options(fuzz-llm PRIVATE ${fuzz_flags})
    target_link_libraries(fuzz-llm PRIVATE PkgConfig::JANSSON PkgConfig::MSGPACK)
    set_target_properties(fuzz-llm PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endif()

# The loop end to end over the bus and real HTTP, with orch_fixture
# standing in for tool-runner and event-log.
caisson_test(test_orchestrator test_orchestrator.c orch_fixture.c)
target_link_libraries(test_orchestrator PRIVATE runstore)
add_dependencies(test_orchestrator caisson-orchestrator caisson-llm-replay caisson-bus caisson)
set_tests_properties(test_orchestrator PROPERTIES TIMEOUT 300)

# The run state machine in-process: every transition, its JSON form, and
# hostile snapshots, with a recording host (no sockets, broker or model).
caisson_test(test_run test_run.c)
target_link_libraries(test_run PRIVATE orchrun)

# The orchestrator's store in-process over a temporary LMDB.
caisson_test(test_runstore test_runstore.c)
target_link_libraries(test_runstore PRIVATE runstore)
# Adoption's store side (runstore_take) and kept thread sandboxes.
caisson_test(test_adopt_store test_adopt_store.c)
target_link_libraries(test_adopt_store PRIVATE runstore)

# compose.yaml and .env.example pass every provider in the provider table.
caisson_test(test_deploy_env test_deploy_env.c)
target_link_libraries(test_deploy_env PRIVATE llm)
