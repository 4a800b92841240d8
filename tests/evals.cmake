# Golden task sets (libcommon/evalset.h, evals/, docs/evals.md): loading
# and refusing hostile folders (test_evalset); every task's reference
# solution passes its hidden tests and its starting files fail them
# (test_golden_set); llm-replay's oracle over HTTP (test_replay_oracle).
caisson_test(test_evalset test_evalset.c)
caisson_test(test_golden_set test_golden_set.c)
set_tests_properties(test_golden_set PROPERTIES TIMEOUT 600)
caisson_test(test_replay_oracle test_replay_oracle.c replay_http.c)
target_link_libraries(test_replay_oracle PRIVATE llmreplay PkgConfig::CURL)
add_dependencies(test_replay_oracle caisson-llm-replay)
set_tests_properties(test_replay_oracle PROPERTIES LABELS threaded)
