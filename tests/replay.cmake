# The scripted model (caisson-llm-replay): its loop-gap figures on
# GET /stats, over real HTTP with the orchestrator's request builders, and
# their pairing (gaps.c) in process.
caisson_test(test_replay test_replay.c ${PROJECT_SOURCE_DIR}/services/llm-replay/gaps.c)
target_include_directories(test_replay PRIVATE ${PROJECT_SOURCE_DIR}/services/llm-replay)
target_link_libraries(test_replay PRIVATE llm PkgConfig::CURL pthread)
add_dependencies(test_replay caisson-llm-replay)
