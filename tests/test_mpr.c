/* test_mpr: the strict msgpack reader on hand-written bytes.
 *
 * Every header form msgpack has is read once here, with the values that
 * catch the usual slips: sign extension of short negative integers, float32
 * widened to double, ext payloads starting after the type byte, and each
 * length or count checked against the bytes actually left. */
#include "support.h"
#include "mpr.h"

#include <math.h>
#include <string.h>

/* Reads the single item in bytes, which must take exactly all of them. */
static mpr_item_t
read_one (const uint8_t *bytes, size_t len)
{
    mpr_t r;
    mpr_item_t it;
    mpr_init (&r, bytes, len);
    assert_int_equal (mpr_next (&r, &it), MPR_OK);
    assert_int_equal (mpr_left (&r), 0);
    return it;
}

static mpr_err_t
read_rc (const uint8_t *bytes, size_t len)
{
    mpr_t r;
    mpr_item_t it;
    mpr_init (&r, bytes, len);
    return mpr_next (&r, &it);
}

#define ONE(...) read_one ((const uint8_t[]) { __VA_ARGS__ }, \
                           sizeof ((const uint8_t[]) { __VA_ARGS__ }))
#define RC(...) read_rc ((const uint8_t[]) { __VA_ARGS__ }, \
                         sizeof ((const uint8_t[]) { __VA_ARGS__ }))

static void
expect_uint (mpr_item_t it, uint64_t want)
{
    assert_int_equal (it.kind, MPR_UINT);
    assert_true (it.v.u == want);
}

static void
expect_int (mpr_item_t it, int64_t want)
{
    assert_int_equal (it.kind, MPR_INT);
    assert_true (it.v.i == want);
}

static void
test_unsigned_widths (void **state)
{
    (void) state;
    expect_uint (ONE (0x00), 0);
    expect_uint (ONE (0x7f), 127);
    expect_uint (ONE (0xcc, 0xff), 255);
    expect_uint (ONE (0xcd, 0x01, 0x02), 0x0102);
    expect_uint (ONE (0xce, 0xff, 0xff, 0xff, 0xff), UINT32_MAX);
    expect_uint (ONE (0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0x01), UINT64_C (0x8000000000000001));
    expect_uint (ONE (0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), UINT64_MAX);
}

static void
test_signed_widths (void **state)
{
    (void) state;
    expect_int (ONE (0xff), -1);
    expect_int (ONE (0xe0), -32);
    expect_int (ONE (0xd0, 0x80), -128);
    expect_int (ONE (0xd0, 0x7f), 127);         /* positive stays positive */
    expect_int (ONE (0xd1, 0x80, 0x00), -32768);
    expect_int (ONE (0xd1, 0xff, 0xfe), -2);
    expect_int (ONE (0xd1, 0x7f, 0xff), 32767);
    expect_int (ONE (0xd2, 0x80, 0, 0, 0), INT32_MIN);
    expect_int (ONE (0xd2, 0xff, 0xff, 0xff, 0xff), -1);
    expect_int (ONE (0xd2, 0x7f, 0xff, 0xff, 0xff), INT32_MAX);
    expect_int (ONE (0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0), INT64_MIN);
    expect_int (ONE (0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), -1);
    expect_int (ONE (0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), INT64_MAX);
}

static void
test_floats (void **state)
{
    (void) state;
    mpr_item_t it = ONE (0xca, 0x3f, 0xc0, 0x00, 0x00);
    assert_int_equal (it.kind, MPR_FLOAT);
    assert_true (it.v.f == 1.5);
    it = ONE (0xca, 0xc2, 0xf6, 0xe9, 0x79);    /* -123.456f, not its double */
    assert_true (it.v.f == (double) -123.456f);
    it = ONE (0xca, 0x7f, 0xc0, 0x00, 0x00);
    assert_true (isnan (it.v.f));
    it = ONE (0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0);
    assert_true (it.v.f == 1.5);
    it = ONE (0xcb, 0xc0, 0x5e, 0xdd, 0x2f, 0x1a, 0x9f, 0xbe, 0x77);
    assert_true (it.v.f == -123.456);
}

static void
expect_span (mpr_item_t it, mpr_kind_t kind, const char *want, size_t len)
{
    assert_int_equal (it.kind, kind);
    assert_int_equal (it.len, len);
    assert_memory_equal (it.ptr, want, len);
}

static void
test_strings_and_bins (void **state)
{
    (void) state;
    expect_span (ONE (0xa0), MPR_STR, "", 0);
    expect_span (ONE (0xa3, 'a', 'b', 'c'), MPR_STR, "abc", 3);
    expect_span (ONE (0xd9, 0x02, 'h', 'i'), MPR_STR, "hi", 2);
    expect_span (ONE (0xda, 0x00, 0x02, 'h', 'i'), MPR_STR, "hi", 2);
    expect_span (ONE (0xdb, 0x00, 0x00, 0x00, 0x02, 'h', 'i'), MPR_STR, "hi", 2);
    expect_span (ONE (0xc4, 0x02, 0x00, 0xff), MPR_BIN, "\0\xff", 2);
    expect_span (ONE (0xc5, 0x00, 0x01, 0x07), MPR_BIN, "\x07", 1);
    expect_span (ONE (0xc6, 0x00, 0x00, 0x00, 0x00), MPR_BIN, "", 0);

    uint8_t big[3 + 300] = { 0xda, 0x01, 0x2c };   /* str16 of 300 bytes */
    memset (big + 3, 'x', 300);
    mpr_item_t it = read_one (big, sizeof big);
    assert_int_equal (it.len, 300);
    assert_ptr_equal (it.ptr, big + 3);
}

static void
test_ext_and_fixext (void **state)
{
    (void) state;
    /* The payload starts after the type byte, for every form. */
    expect_span (ONE (0xd4, 0x01, 'a'), MPR_EXT, "a", 1);
    expect_span (ONE (0xd5, 0x01, 'a', 'b'), MPR_EXT, "ab", 2);
    expect_span (ONE (0xd6, 0xff, 1, 2, 3, 4), MPR_EXT, "\1\2\3\4", 4);
    expect_span (ONE (0xd7, 0x05, 1, 2, 3, 4, 5, 6, 7, 8), MPR_EXT, "\1\2\3\4\5\6\7\10", 8);
    mpr_item_t it = ONE (0xd8, 0x05, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    assert_int_equal (it.kind, MPR_EXT);
    assert_int_equal (it.len, 16);
    assert_int_equal (it.ptr[15], 15);
    expect_span (ONE (0xc7, 0x02, 0x09, 'x', 'y'), MPR_EXT, "xy", 2);
    expect_span (ONE (0xc8, 0x00, 0x02, 0x09, 'x', 'y'), MPR_EXT, "xy", 2);
    expect_span (ONE (0xc9, 0x00, 0x00, 0x00, 0x02, 0x09, 'x', 'y'), MPR_EXT, "xy", 2);
    expect_span (ONE (0xc7, 0x00, 0x09), MPR_EXT, "", 0);
}

static void
test_scalars_and_containers (void **state)
{
    (void) state;
    assert_int_equal (ONE (0xc0).kind, MPR_NIL);
    mpr_item_t it = ONE (0xc2);
    assert_true (it.kind == MPR_BOOL && !it.v.b);
    it = ONE (0xc3);
    assert_true (it.kind == MPR_BOOL && it.v.b);

    const uint8_t arr[] = { 0x92, 0x01, 0x02 };
    mpr_t r;
    mpr_init (&r, arr, sizeof arr);
    assert_int_equal (mpr_next (&r, &it), MPR_OK);
    assert_true (it.kind == MPR_ARRAY && it.v.count == 2);
    assert_int_equal (mpr_left (&r), 2);          /* positioned on the first child */

    const uint8_t map16[] = { 0xde, 0x00, 0x01, 0xa1, 'k', 0xc0 };
    mpr_init (&r, map16, sizeof map16);
    assert_int_equal (mpr_next (&r, &it), MPR_OK);
    assert_true (it.kind == MPR_MAP && it.v.count == 1);
    it = ONE (0xdc, 0x00, 0x00);
    assert_true (it.kind == MPR_ARRAY && it.v.count == 0);
    it = ONE (0xdf, 0x00, 0x00, 0x00, 0x00);
    assert_true (it.kind == MPR_MAP && it.v.count == 0);
    assert_string_equal (mpr_kind_name (MPR_MAP), "map");
    assert_string_equal (mpr_kind_name (MPR_EXT), "extension");
}

static void
test_truncated_headers (void **state)
{
    (void) state;
    assert_int_equal (read_rc (NULL, 0), MPR_E_TRUNCATED);
    assert_int_equal (RC (0xcc), MPR_E_TRUNCATED);
    assert_int_equal (RC (0xcf, 0, 0, 0, 0, 0, 0, 0), MPR_E_TRUNCATED);
    assert_int_equal (RC (0xd1, 0xff), MPR_E_TRUNCATED);
    assert_int_equal (RC (0xcb, 0, 0, 0), MPR_E_TRUNCATED);
    assert_int_equal (RC (0xd9), MPR_E_TRUNCATED);
    assert_int_equal (RC (0xdb, 0x00, 0x00), MPR_E_TRUNCATED);
    assert_int_equal (RC (0xc7, 0x01), MPR_E_TRUNCATED);   /* no type byte */
    assert_int_equal (RC (0xd6, 0x01, 1, 2), MPR_E_TRUNCATED);
    assert_int_equal (RC (0xdd, 0xff, 0xff), MPR_E_TRUNCATED);
}

static void
test_lengths_past_the_end (void **state)
{
    (void) state;
    /* A fixstr's length is a declared length like any other. */
    assert_int_equal (RC (0xa3, 'a'), MPR_E_BOMB);
    /* The five-byte bombs: counts and lengths the buffer cannot hold. */
    assert_int_equal (RC (0xdd, 0xff, 0xff, 0xff, 0xff), MPR_E_BOMB);
    assert_int_equal (RC (0xdf, 0xff, 0xff, 0xff, 0xff), MPR_E_BOMB);
    assert_int_equal (RC (0xdb, 0xff, 0xff, 0xff, 0xff), MPR_E_BOMB);
    assert_int_equal (RC (0xc6, 0xff, 0xff, 0xff, 0xff), MPR_E_BOMB);
    assert_int_equal (RC (0xc9, 0xff, 0xff, 0xff, 0xff, 0x01), MPR_E_BOMB);
    /* A map of n pairs needs 2n bytes: one pair short is refused. */
    assert_int_equal (RC (0x82, 0x01, 0x02, 0x03), MPR_E_BOMB);
    assert_int_equal (RC (0x93, 0x01, 0x02), MPR_E_BOMB);
    assert_int_equal (RC (0xd9, 0x03, 'a', 'b'), MPR_E_BOMB);
    assert_int_equal (RC (0xc1), MPR_E_INVALID);
}

static void
test_skip (void **state)
{
    (void) state;
    const uint8_t nested[] = { 0x91, 0x91, 0x81, 0xa1, 'k', 0x90, 0x2a };
    mpr_t r;
    mpr_init (&r, nested, sizeof nested);
    assert_int_equal (mpr_skip (&r, 4), MPR_OK);
    assert_int_equal (mpr_left (&r), 1);          /* stopped before the 0x2a */
    mpr_init (&r, nested, sizeof nested);
    assert_int_equal (mpr_skip (&r, 3), MPR_E_DEEP);
    mpr_init (&r, nested, sizeof nested);
    assert_int_equal (mpr_skip (&r, 0), MPR_E_DEEP);
    mpr_init (&r, nested + 6, 1);
    assert_int_equal (mpr_skip (&r, 0), MPR_OK);  /* a scalar needs no depth */

    const uint8_t bad_child[] = { 0x92, 0x01, 0xc1 };
    mpr_init (&r, bad_child, sizeof bad_child);
    assert_int_equal (mpr_skip (&r, 1), MPR_E_INVALID);
    const uint8_t short_child[] = { 0x92, 0xcd, 0x01, 0x02 };
    mpr_init (&r, short_child, sizeof short_child);
    assert_int_equal (mpr_skip (&r, 1), MPR_E_TRUNCATED);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_unsigned_widths),
        cmocka_unit_test (test_signed_widths),
        cmocka_unit_test (test_floats),
        cmocka_unit_test (test_strings_and_bins),
        cmocka_unit_test (test_ext_and_fixext),
        cmocka_unit_test (test_scalars_and_containers),
        cmocka_unit_test (test_truncated_headers),
        cmocka_unit_test (test_lengths_past_the_end),
        cmocka_unit_test (test_skip),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
