#!/bin/sh
# mcpc_life_stdio: a stdio MCP server written by hand (sh and sed, as a
# sandbox has them), for tests/test_mcp_client_life.c: the stdio side of
# list_changed and cancellation. One JSON-RPC message a line:
#   grow   answers after notifications/tools/list_changed; its tools/list
#          then has `grown` too
#   slow   never answered until notifications/cancelled comes, then
#          answered (too late: the client must drop it)
#   told   answers with the last notifications/cancelled line (" as ')
grown=0
slow=
told=none
tool () {
    printf '{"name":"%s","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}}' "$1"
}
answer () {
    printf '{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"%s"}]}}\n' "$1" "$2"
}
while IFS= read -r line; do
    id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
    case "$line" in
    *'"method":"initialize"'*)
        printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"life-sh","version":"1"}}}\n' "$id" ;;
    *'"method":"tools/list"'*)
        tools="$(tool grow),$(tool slow),$(tool told)"
        [ "$grown" = 1 ] && tools="$tools,$(tool grown)"
        printf '{"jsonrpc":"2.0","id":%s,"result":{"tools":[%s]}}\n' "$id" "$tools" ;;
    *'"method":"notifications/cancelled"'*)
        told=$(printf '%s' "$line" | tr '"' "'")
        [ -n "$slow" ] && answer "$slow" "too late"
        slow= ;;
    *'"name":"grow"'*)
        grown=1
        printf '{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n'
        answer "$id" grown ;;
    *'"name":"grown"'*)
        answer "$id" "grown here" ;;
    *'"name":"slow"'*)
        slow=$id ;;
    *'"name":"told"'*)
        answer "$id" "$told" ;;
    esac
done
