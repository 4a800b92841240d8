# The bus through its public interface: the real broker binary, real
# workers, the libcommon client, publisher and tap; the whole stack through
# the caisson command; and the LMDB helpers.
caisson_test(test_bus test_bus.c)
caisson_test(test_stack test_stack.c)
target_compile_definitions(test_stack PRIVATE CAISSON_VERSION_STRING="${CAISSON_VERSION}")
caisson_test(test_store test_store.c)
# Sandbox ids: made and read in one place (libcommon/sandbox_id), hostile ones.
caisson_test(test_sandbox_id test_sandbox_id.c)
# Issue 11, item 7: a local process on the bus with no key, an unknown key
# or the client key, as an attacker would be one.
caisson_test(test_redteam_bus test_redteam_bus.c)
