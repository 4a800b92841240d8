# The scripted model (caisson-llm-replay): its loop-gap figures on
# GET /stats, over real HTTP with the orchestrator's request builders, and
# their pairing (gaps.c) in process.
caisson_test(test_replay test_replay.c replay_http.c)
target_link_libraries(test_replay PRIVATE llmreplay PkgConfig::CURL)
add_dependencies(test_replay caisson-llm-replay)
# The fence (libcommon/fence.c) against hostile data, read back by the
# scripted model's own reader (fencecheck.c) (test_fence).
caisson_test(test_fence test_fence.c)
target_link_libraries(test_fence PRIVATE llmreplay)
# What the scripted model sends on the wire as the providers do (whole
# answers for stream:false, the usage chunk on request, GET /v1/models,
# scripted 400/529, the key), over HTTP (test_replay_wire).
caisson_test(test_replay_wire test_replay_wire.c replay_http.c)
target_link_libraries(test_replay_wire PRIVATE PkgConfig::CURL)
add_dependencies(test_replay_wire caisson-llm-replay)
