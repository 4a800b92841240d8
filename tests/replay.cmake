# The scripted model (caisson-llm-replay): its loop-gap figures on
# GET /stats, over real HTTP with the orchestrator's request builders.
caisson_test(test_replay test_replay.c)
target_link_libraries(test_replay PRIVATE llm PkgConfig::CURL)
add_dependencies(test_replay caisson-llm-replay)
