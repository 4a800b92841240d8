/* egress_rule_int: the parsed form of a network rule, shared by
 * egress_rule.c (parsing, lists, presets) and egress_check.c (address
 * classes, the two checks, the ceiling test). Private to those two files:
 * every other caller goes through egress_rule.h. */
#ifndef CAISSON_EGRESS_RULE_INT_H
#define CAISSON_EGRESS_RULE_INT_H

#include "egress_rule.h"

#define PORT_RANGES_MAX 16

typedef enum { R_NAME, R_SUFFIX, R_ANY, R_ADDR } rule_kind_t;

typedef struct {
    uint16_t lo, hi;
} port_range_t;

typedef struct {
    rule_kind_t kind;
    char text[EGRESS_RULE_MAX + 1];   /* normalized, as shown and stored */
    char name[256];                   /* R_NAME: the host; R_SUFFIX: after "*." */
    int family;                       /* R_ADDR: AF_INET or AF_INET6 */
    uint8_t addr[16];
    int prefix;
    size_t nports;                    /* 0: no port written */
    port_range_t ports[PORT_RANGES_MAX];
} rule_t;

struct egress_rules_t {
    size_t n, cap;
    rule_t *r;
};

#endif
