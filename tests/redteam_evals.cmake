# issue 18 red team: a hostile tenant and a careless user against
# event-log's eval records and versioned profiles (the real broker and
# event-log), hostile task folders against the set loader, and the
# scripted model's oracle over several sets.
caisson_test(test_redteam_evals test_redteam_evals.c eventlog_util.c)
target_link_libraries(test_redteam_evals PRIVATE llmreplay)
add_dependencies(test_redteam_evals caisson-bus caisson-event-log)
set_tests_properties(test_redteam_evals PROPERTIES LABELS threaded TIMEOUT 600)
