package io.ferrydb.cli;

import io.ferrydb.api.Key;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** NS SET KEY positional arguments and the key type. */
final class KeyArgs {
    @Parameters(index = "0", paramLabel = "NS", description = "Namespace.")
    String namespace;

    @Parameters(index = "1", paramLabel = "SET", description = "Set.")
    String set;

    @Parameters(index = "2", paramLabel = "KEY", description = "User key.")
    String key;

    @Option(names = "--key-type", defaultValue = "string", description = "string, long or bytes (base64) (default: ${DEFAULT-VALUE}).")
    String keyType;

    Key toKey() {
        return ValueParser.key(namespace, set, key, keyType).validate("key");
    }
}
