# issue 15 red team, second pass: a hostile sandbox against the egress
# proxy (resolver starvation across sandboxes).
caisson_test(test_redteam_egress2 test_redteam_egress2.c)
add_dependencies(test_redteam_egress2 caisson-bus caisson-egress-proxy)
