/* cmd_sandbox_net: see cmd_sandbox_net.h. */
#include "cmd_sandbox_net.h"
#include "bus_client.h"
#include "bus_tap.h"
#include "cfg.h"
#include "cliask.h"
#include "mpjson.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static proto_msg_t *
ask (const char *service, proto_msg_t *req, int timeout_ms)
{
    bus_client_t *c = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (c)
        bus_client_set_timeout (c, timeout_ms, 0);
    proto_msg_t *rep = c ? cliask (c, service, req) : NULL;
    if (!c) {
        proto_msg_destroy (&req);
        cliask_report (service, NULL);
    }
    bus_client_destroy (&c);
    return rep;
}

/* One line per rule: "allow\t<rule>", then "deny\t<rule>". */
static void
print_rules (const proto_sandbox_info_t *i)
{
    printf ("network\t%s\n", i->network ? i->network : "none");
    if (i->proxy)
        printf ("proxy\t%s\n", i->proxy);
    const char *kinds[] = { "allow", "deny" };
    const proto_bytes_t *lists[] = { &i->network_allow, &i->network_deny };
    for (int k = 0; k < 2; k++) {
        json_t *rules = mpjson_get (lists[k], 4), *r;
        size_t n;
        json_array_foreach (rules, n, r)
            printf ("%s\t%s\n", kinds[k], json_string_value (r) ?: "?");
        json_decref (rules);
    }
}

static int
stats (const char *id)
{
    proto_msg_t *req = proto_msg_new (PROTO_egress_stats_get, NULL);
    proto_set_str (&req->body.egress_stats_get.sandbox_id, id);
    proto_msg_t *rep = ask ("egress-proxy", req, 10000);
    if (!rep)
        return 1;
    const proto_egress_stats_t *s = &rep->body.egress_stats;
    printf ("open %llu\ttotal %llu\trefused %llu\tbytes_up %llu\tbytes_down %llu\n",
            (unsigned long long) s->open, (unsigned long long) s->total,
            (unsigned long long) s->refused, (unsigned long long) s->bytes_up,
            (unsigned long long) s->bytes_down);
    proto_msg_destroy (&rep);
    return 0;
}

/* Until interrupted: "time verdict protocol host:port rule reason bytes"
 * for each decision published on sandbox.<id>.net. */
static int
watch (const char *id)
{
    char prefix[160];
    snprintf (prefix, sizeof prefix, "sandbox.%s.net", id);
    bus_tap_t *tap = bus_tap_new (cfg_str ("CAISSON_BUS_SUB"), prefix);
    if (!tap) {
        fprintf (stderr, "caisson: cannot subscribe at %s\n", cfg_str ("CAISSON_BUS_SUB"));
        return 1;
    }
    while (!zsys_interrupted) {
        char topic[256];
        proto_msg_t *m = bus_tap_recv (tap, topic, sizeof topic, 500, NULL);
        if (!m || m->type != PROTO_sandbox_net_event || strcmp (topic, prefix)) {
            proto_msg_destroy (&m);
            continue;
        }
        const proto_sandbox_net_event_t *e = &m->body.sandbox_net_event;
        char when[32];
        time_t now = time (NULL);
        struct tm tm;
        strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r (&now, &tm));
        printf ("%s\t%s\t%s\t%s:%llu\t%s\t%s\t%llu/%llu\n", when, e->verdict, e->protocol,
                e->host, (unsigned long long) e->port, e->rule && *e->rule ? e->rule : "-",
                e->reason && *e->reason ? e->reason : "-", (unsigned long long) e->bytes_up,
                (unsigned long long) e->bytes_down);
        fflush (stdout);
        proto_msg_destroy (&m);
    }
    bus_tap_destroy (&tap);
    return 0;
}

int
cmd_sandbox_net (const char *service, const char *id, int argc, char **argv)
{
    json_t *lists[3] = { json_array (), json_array (), json_array () };
    static const char *const flags[3] = { "--allow", "--remove", "--deny" };
    const char *reason = NULL;
    bool want_stats = false, want_watch = false, changes = false;
    int rc = 0;
    for (int i = 0; i < argc && !rc; i++) {
        int k = 0;
        while (k < 3 && strcmp (argv[i], flags[k]))
            k++;
        if (!strcmp (argv[i], "--stats"))
            want_stats = true;
        else if (!strcmp (argv[i], "--watch"))
            want_watch = true;
        else if ((k < 3 || !strcmp (argv[i], "--reason")) && i + 1 < argc) {
            if (k < 3)
                json_array_append_new (lists[k], json_string (argv[++i]));
            else
                reason = argv[++i];
            changes |= k < 3;
        }
        else {
            fprintf (stderr, "caisson: sandbox net: unexpected '%s'\nusage: caisson sandbox net "
                     "ID [--allow R]... [--remove R]... [--deny R]... [--reason TEXT] | "
                     "--stats | --watch\n", argv[i]);
            rc = 2;
        }
    }
    if (!rc && want_stats + want_watch + changes > 1) {
        fprintf (stderr, "caisson: sandbox net: --stats, --watch and changes go one at a time\n");
        rc = 2;
    }
    if (!rc && (want_stats || want_watch))
        rc = want_stats ? stats (id) : watch (id);
    else if (!rc) {
        proto_msg_t *req = proto_msg_new (changes ? PROTO_sandbox_net_update : PROTO_sandbox_get,
                                          NULL);
        if (changes) {
            proto_sandbox_net_update_t *u = &req->body.sandbox_net_update;
            proto_set_str (&u->sandbox_id, id);
            proto_bytes_t *fields[3] = { &u->allow_add, &u->allow_remove, &u->deny_add };
            for (int k = 0; k < 3; k++)
                if (json_array_size (lists[k]))
                    mpjson_set (fields[k], lists[k], 2);
            proto_set_str (&u->reason, reason);
        }
        else
            proto_set_str (&req->body.sandbox_get.sandbox_id, id);
        proto_msg_t *rep = ask (service, req, 30000);
        if (rep)
            print_rules (&rep->body.sandbox_info);
        rc = rep ? 0 : 1;
        proto_msg_destroy (&rep);
    }
    for (int k = 0; k < 3; k++)
        json_decref (lists[k]);
    return rc;
}
