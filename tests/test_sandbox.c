/* test_sandbox: sandbox-manager through the bus, with the real broker and
 * service binaries: lifecycle, every file operation, exec (timeout,
 * truncation, stdin, background), runCode and the seed example. */
#define _GNU_SOURCE
#include "sbx_client.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
test_seed_example (void **state)
{
    (void) state;
    char *id = create ("python", 600);
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_write_files, NULL);
    proto_set_str (&req->body.sandbox_write_files.sandboxId, id);
    any_set (&req->body.sandbox_write_files.files, json_pack (
        "[{s:s, s:s}, {s:s, s:s}]", "path", "reverse_string.py", "data",
        "def reverse_string(s):\n    return s[::-1]\n", "path", "test_reverse_string.py", "data",
        "import unittest\nfrom reverse_string import reverse_string\n\n"
        "class TestReverseString(unittest.TestCase):\n"
        "    def test_regular(self):\n        self.assertEqual(reverse_string(\"hello\"), \"olleh\")\n"
        "    def test_empty(self):\n        self.assertEqual(reverse_string(\"\"), \"\")\n"
        "    def test_single_char(self):\n        self.assertEqual(reverse_string(\"a\"), \"a\")\n"
        "    def test_numbers(self):\n        self.assertEqual(reverse_string(\"12345\"), \"54321\")\n\n"
        "if __name__ == \"__main__\":\n    unittest.main()\n"));
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_paths);
    char why[128];
    json_t *paths = mpjson_decode (rep->body.sandbox_paths.filesWritten.data,
                                   rep->body.sandbox_paths.filesWritten.size, 2, why, sizeof why);
    assert_string_equal (json_string_value (json_array_get (paths, 0)), "/workspace/reverse_string.py");
    json_decref (paths);
    proto_msg_destroy (&rep);
    rep = sh (id, "python3 test_reverse_string.py", 20, NULL);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    assert_int_equal (rep->body.sandbox_exec_result.exitCode, 0);
    assert_non_null (strstr (rep->body.sandbox_exec_result.stderr, "Ran 4 tests"));
    assert_non_null (strstr (rep->body.sandbox_exec_result.stderr, "OK"));
    proto_msg_destroy (&rep);
    destroy (id);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_seed_example),
    };
    return cmocka_run_group_tests (tests, sbx_setup, sbx_teardown);
}
