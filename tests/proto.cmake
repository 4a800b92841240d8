# The catalogue: its reader and codec, the generated documents, the egress
# rule matcher shared by the egress services, and (with
# CAISSON_FUZZ, under clang) the libFuzzer target for the decoder.
caisson_test(test_mpr test_mpr.c)
caisson_test(test_proto test_proto.c)
caisson_test(test_mpjson test_mpjson.c)
caisson_test(test_evkind test_evkind.c)
caisson_test(test_egress_rule test_egress_rule.c)
caisson_test(test_docs test_docs.c)
add_dependencies(test_docs caisson-docgen)

option(CAISSON_FUZZ "Build fuzz-proto, the libFuzzer target for proto_decode (clang)" OFF)
if(CAISSON_FUZZ)
    # The decoder's sources are compiled again here, so that the coverage
    # instrumentation libFuzzer steers by reaches into them.
    set(decoder_sources ${PROJECT_SOURCE_DIR}/libcommon/proto.c
        ${PROJECT_SOURCE_DIR}/libcommon/mpr.c ${PROJECT_SOURCE_DIR}/libcommon/cfg.c
        ${PROJECT_SOURCE_DIR}/libcommon/cid.c)
    set(fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)

    add_executable(fuzz-proto fuzz_proto.c ${decoder_sources})
    target_include_directories(fuzz-proto PRIVATE ${PROJECT_SOURCE_DIR}/libcommon
                               ${PROJECT_SOURCE_DIR})
    target_compile_options(fuzz-proto PRIVATE ${fuzz_flags})
    target_link_options(fuzz-proto PRIVATE ${fuzz_flags})
    target_link_libraries(fuzz-proto PRIVATE PkgConfig::MSGPACK)
    set_target_properties(fuzz-proto PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

    # fuzz-seed writes one valid frame per message type into the corpus
    # each time fuzz-proto is built, so a run starts from real messages.
    set(corpus ${CMAKE_BINARY_DIR}/corpus)
    file(MAKE_DIRECTORY ${corpus})
    add_executable(fuzz-seed fuzz_proto.c ${decoder_sources})
    target_compile_definitions(fuzz-seed PRIVATE CAISSON_FUZZ_SEED)
    target_include_directories(fuzz-seed PRIVATE ${PROJECT_SOURCE_DIR}/libcommon
                               ${PROJECT_SOURCE_DIR})
    target_link_libraries(fuzz-seed PRIVATE PkgConfig::MSGPACK)
    set_target_properties(fuzz-seed PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
    add_dependencies(fuzz-proto fuzz-seed)
    add_custom_command(TARGET fuzz-proto POST_BUILD COMMAND fuzz-seed ${corpus}
                       COMMENT "Seeding ${corpus}")
endif()
