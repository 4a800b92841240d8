# Recall through the real broker, event-log and scripted model: BM25,
# embeddings over HTTP (the orchestrator's llm_embed), hybrid, windows,
# isolation between users, hostile requests, restart.
caisson_test(test_recall test_recall.c eventlog_util.c)
target_link_libraries(test_recall PRIVATE recallclient)
add_dependencies(test_recall caisson-event-log caisson-llm-replay caisson-bus)
# Recall in runs (the automatic top-k, the recall tool, vectors, the
# fence, isolation, a slow embeddings provider) through the whole stack on
# the scripted model, whose cassettes assert what each request carried.
caisson_test(test_recall_runs test_recall_runs.c)
add_dependencies(test_recall_runs caisson-bus caisson-event-log caisson-llm-replay
                 caisson-tool-runner caisson-orchestrator)
set_tests_properties(test_recall_runs PROPERTIES TIMEOUT 300)
# The run's side in-process: where the recalled data goes, the tool's
# arguments, its fenced result, the floors.
caisson_test(test_run_recall test_run_recall.c)
target_link_libraries(test_run_recall PRIVATE orchrun)
