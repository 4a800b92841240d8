/* test_mpjson: msgpack <-> JSON conversion of ANY fields, round trips and
 * the refusals of hostile or unrepresentable input. */
#include "support.h"
#include "mpjson.h"

#include <string.h>

static void
roundtrip (const char *text)
{
    json_error_t jerr;
    json_t *in = json_loads (text, JSON_DECODE_ANY, &jerr);
    assert_non_null (in);
    uint8_t *data;
    size_t size;
    assert_int_equal (mpjson_encode (in, 32, &data, &size), 0);
    char why[128] = "";
    json_t *out = mpjson_decode (data, size, 32, why, sizeof why);
    assert_non_null (out);
    assert_true (json_equal (in, out));
    assert_int_equal (mpjson_check (data, size, 32, 0, why, sizeof why), 0);
    free (data);
    json_decref (in);
    json_decref (out);
}

static void
test_roundtrip (void **state)
{
    (void) state;
    roundtrip ("{\"path\":\"/workspace/a.py\",\"n\":-42,\"big\":9007199254740993,"
               "\"f\":1.5,\"ok\":true,\"no\":false,\"nil\":null,"
               "\"list\":[1,\"two\",{\"three\":[]}],\"utf\":\"h\\u00e9llo \\u2603\"}");
    roundtrip ("[]");
    roundtrip ("\"just a string\"");
}

static void
expect_refused (const uint8_t *data, size_t size, int depth, const char *reason)
{
    char why[128] = "";
    json_t *v = mpjson_decode (data, size, depth, why, sizeof why);
    assert_null (v);
    if (!strstr (why, reason))
        fail_msg ("expected '%s' in '%s'", reason, why);
    /* mpjson_check refuses it too, for the same reason */
    char checked[128] = "";
    assert_int_equal (mpjson_check (data, size, depth, 0, checked, sizeof checked), -1);
    assert_string_equal (checked, why);
}

static void
test_refusals (void **state)
{
    (void) state;
    const uint8_t truncated[] = { 0xcd, 0x01 };     /* uint16 with one byte */
    expect_refused (truncated, sizeof truncated, 8, "truncated");
    const uint8_t bomb[] = { 0xdd, 0x7f, 0xff, 0xff, 0xff };     /* array of 2^31 */
    expect_refused (bomb, sizeof bomb, 8, "past the end");
    const uint8_t deep[] = { 0x91, 0x91, 0x91, 0x90 };
    expect_refused (deep, sizeof deep, 2, "deeper");
    const uint8_t intkey[] = { 0x81, 0x01, 0x02 };
    expect_refused (intkey, sizeof intkey, 8, "not a string");
    const uint8_t badutf[] = { 0xa2, 0xc3, 0x28 };
    expect_refused (badutf, sizeof badutf, 8, "UTF-8");
    const uint8_t ext[] = { 0xd4, 0x01, 0x00 };
    expect_refused (ext, sizeof ext, 8, "ext");
    const uint8_t huge[] = { 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    expect_refused (huge, sizeof huge, 8, "too large");
    const uint8_t trailing[] = { 0x01, 0x02 };
    expect_refused (trailing, sizeof trailing, 8, "after the value");
    const uint8_t badkey[] = { 0x81, 0xa2, 0xc3, 0x28, 0x01 };    /* {"\xc3(": 1} */
    expect_refused (badkey, sizeof badkey, 8, "not valid UTF-8");
    const uint8_t nulstr[] = { 0xa3, 'a', 0x00, 'b' };            /* NUL is taken */
    char why[128];
    json_t *v = mpjson_decode (nulstr, sizeof nulstr, 8, why, sizeof why);
    assert_non_null (v);
    json_decref (v);
    assert_int_equal (mpjson_check (nulstr, sizeof nulstr, 8, 0, why, sizeof why), 0);
    /* the count of values: [1, 2, 3] is four (the array and its items) */
    const uint8_t three[] = { 0x93, 0x01, 0x02, 0x03 };
    assert_int_equal (mpjson_check (three, sizeof three, 8, 4, why, sizeof why), 0);
    assert_int_equal (mpjson_check (three, sizeof three, 8, 3, why, sizeof why), -1);
    assert_non_null (strstr (why, "more values"));
}

static void
test_encode_depth_limit (void **state)
{
    (void) state;
    json_t *v = json_pack ("[[[[]]]]");
    uint8_t *data = NULL;
    size_t size;
    assert_int_equal (mpjson_encode (v, 2, &data, &size), -1);
    assert_int_equal (mpjson_encode (v, 4, &data, &size), 0);
    free (data);
    json_decref (v);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_roundtrip),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_encode_depth_limit),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
