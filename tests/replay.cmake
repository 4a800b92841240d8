# The scripted model (caisson-llm-replay): its loop-gap figures on
# GET /stats, over real HTTP with the orchestrator's request builders, and
# their pairing (gaps.c) in process.
caisson_test(test_replay test_replay.c)
target_link_libraries(test_replay PRIVATE llmreplay PkgConfig::CURL)
add_dependencies(test_replay caisson-llm-replay)
