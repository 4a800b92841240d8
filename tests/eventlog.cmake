# event-log through its public interface: the real bus and event-log
# binaries, appends and reads over the bus, the caisson CLI. The kill -9
# burst size is CAISSON_TEST_BURST (default 4000); run test_eventlog_crash
# once by hand with 100000 to check the issue's figure.
caisson_test(test_eventlog test_eventlog.c eventlog_util.c)
caisson_test(test_eventlog_crash test_eventlog_crash.c eventlog_util.c)
caisson_test(test_eventlog_status test_eventlog_status.c eventlog_util.c)
# Thread ownership, tombstones and retention at event-log (issue 14).
caisson_test(test_thread_guard test_thread_guard.c eventlog_util.c)
# Issue 18: event-log's versioned profiles and eval records (profiles.def,
# evals.def) over the bus.
caisson_test(test_profiles_store test_profiles_store.c eventlog_util.c)
caisson_test(test_evals_store test_evals_store.c eventlog_util.c)
set_tests_properties(test_profiles_store test_evals_store PROPERTIES LABELS threaded)
