# The egress proxy's pure parsers (TLS server name, HTTP proxy heads,
# SOCKS5), their sources compiled into the test itself.
set(ep_dir ${PROJECT_SOURCE_DIR}/services/egress-proxy)
caisson_test(test_ep_parse test_ep_parse.c ${ep_dir}/ep_sni.c ${ep_dir}/ep_http.c
             ${ep_dir}/ep_socks5.c)
target_include_directories(test_ep_parse PRIVATE ${ep_dir})
