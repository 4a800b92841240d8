# Recall through the real broker, event-log and scripted model: BM25,
# embeddings over HTTP (the orchestrator's llm_embed), hybrid, windows,
# isolation between users, hostile requests, restart.
caisson_test(test_recall test_recall.c eventlog_util.c)
target_link_libraries(test_recall PRIVATE recallclient)
add_dependencies(test_recall caisson-event-log caisson-llm-replay caisson-bus)
